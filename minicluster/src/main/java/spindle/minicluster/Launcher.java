package spindle.minicluster;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivilegedExceptionAction;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.security.Groups;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.yarn.api.protocolrecords.GetClusterMetricsRequest;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;

/**
 * Starts a MiniDFSCluster and a MiniYARNCluster in this JVM, writes their client
 * configuration into a conf dir and prints {@code READY <conf-dir>} on stdout once both
 * accept work. Stops every daemon on SIGINT/SIGTERM (JVM shutdown hook) or when stdin
 * closes, so a test harness that dies without cleaning up still takes the cluster down.
 *
 * <p>Usage: {@code Launcher --conf-dir DIR [--work-dir DIR] [--hosts N] [--racks R] [--rms N]
 * [--node-label NAME] [--gpus N] [--acls] [--second-dfs] [--secure [--rpc-protection P] [--token-renew-interval-s N]
 * [--token-max-lifetime-s N] [--am-rm-token-roll-s N]]}. {@code --acls} makes YARN enforce
 * application ACLs, with no user an administrator of the cluster or of its queues.
 * {@code --node-label NAME} (two hosts or more) puts the last host in the exclusive node
 * label NAME (see {@link NodeLabels}). {@code --gpus N} gives every NodeManager N GPUs
 * (see {@link Gpus}).
 * {@code --second-dfs} starts another HDFS (see {@link SecondDfs}) beside the default one.
 * With one host everything listens on 127.0.0.1; with more, each host's DataNode and
 * NodeManager listen on its own loopback alias (see {@link Hosts}). {@code --rms N} runs N
 * restartable ResourceManagers, an HA pair from two on (see {@link ResourceManagers}),
 * controlled by lines on stdin. {@code --secure}
 * (one host only) runs a KDC and Kerberizes both clusters (see {@link Secure}).
 */
public final class Launcher {
  private static final long NM_WAIT_MS = 120_000;
  /** Each host is a DataNode and a NodeManager in this one JVM. */
  private static final int MAX_HOSTS = 16;
  /** ResourceManagers of an HA set, each a full RM in this one JVM. */
  private static final int MAX_RMS = 3;
  /**
   * How long the daemons may take to stop. A NodeManager unregistering from ResourceManagers
   * that stopped first (the shutdown hooks run together) retries for many minutes; the
   * JVM halts instead of outliving the tests that started it.
   */
  private static final long STOP_WITHIN_MS = 30_000;

  private Launcher() {}

  public static void main(String[] args) {
    try {
      run(args);
    } catch (Throwable t) {
      // Daemon threads of a half-started cluster would keep the JVM alive: exit so the
      // shutdown hooks stop whatever did start.
      System.err.println("minicluster failed to start: " + t);
      t.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }

  private static void run(String[] args) throws Exception {
    Options opts = Options.parse(args);
    Runtime.getRuntime().addShutdownHook(new Thread(Launcher::haltIfStopHangs, "stop-deadline"));
    // Hadoop and its dependencies occasionally print to System.out; keep stdout for the
    // one READY line that callers parse.
    PrintStream ready = System.out;
    System.setOut(System.err);
    quietJulLogging();

    Files.createDirectories(opts.confDir);
    Files.createDirectories(opts.workDir);

    // The KDC comes first: the JDK reads its krb5.conf once, at the first Kerberos use.
    Secure secure = opts.secure == null ? null : Secure.start(opts.workDir, opts.secure);
    Configuration base = ClusterConf.base(opts.workDir);
    if (secure != null) {
      secure.apply(base);
      secure.writeJvmDefaults(base, opts.workDir.resolve("jvm-site"));
    } else {
      // The daemons map users to groups through one mapping per JVM, made from whichever
      // configuration asks first: make it from ours, with its static overrides.
      Groups.getUserToGroupsMappingServiceWithLoadedConfiguration(base);
      UserGroupInformation.setConfiguration(base);
    }
    List<Hosts.Host> hosts = Hosts.plan(opts.hosts, opts.racks);
    MiniDFSCluster dfs =
        asHdfs(
            secure,
            () -> {
              MiniDFSCluster started = startDfs(base, hosts);
              if (secure != null) {
                Secure.prepareHdfs(started.getFileSystem(), ClusterConf.REMOTE_LOG_DIR);
              }
              probeHdfs(started);
              return started;
            });

    if (opts.secondDfs) {
      SecondDfs.start(base, opts.workDir, opts.confDir, secure);
    }

    YarnConfiguration yconf = new YarnConfiguration(dfs.getConfiguration(0));
    ClusterConf.applyYarn(yconf, opts.workDir);
    if (opts.acls) {
      ClusterConf.enforceAcls(yconf);
    }
    if (opts.gpus > 0) {
      Gpus.apply(yconf, opts.gpus);
    }
    if (opts.nodeLabel != null) {
      NodeLabels.apply(yconf, opts.workDir, opts.nodeLabel, hosts.get(hosts.size() - 1).name());
    }
    if (secure != null) {
      Secure.applyYarnWeb(yconf);
    }
    Configuration live;
    ResourceManagers rms = null;
    if (opts.rms > 0) {
      ResourceManagers started =
          asYarn(secure, () -> ResourceManagers.start(yconf, opts.rms, opts.workDir, secure));
      live = started.clientConf();
      List<Hosts.Host> nodes = hosts.size() > 1 ? hosts : List.of(Hosts.LOCAL);
      asYarn(secure, () -> Hosts.startNodeManagers(started.clientConf(), nodes, opts.workDir));
      waitForNodeManagers(started.active(), opts.hosts);
      rms = started;
    } else {
      MiniYARNCluster yarn = asYarn(secure, () -> startYarn(yconf, hosts, opts.workDir));
      waitForNodeManagers(yarn.getResourceManager(), opts.hosts);
      live = yarn.getConfig();
      ClusterConf.waitForRealPorts(live);
    }

    if (secure != null) {
      secure.writeClientFiles(opts.confDir);
    }
    ClusterConf.write(
        dfs.getConfiguration(0),
        live,
        opts.confDir,
        secure == null ? List.of() : Secure.CLIENT_KEYS);
    ready.println("READY " + opts.confDir.toAbsolutePath());
    ready.flush();

    waitForStop(rms, ready);
  }

  /** A NameNode and a DataNode per host, active. */
  static MiniDFSCluster startDfs(Configuration base, List<Hosts.Host> hosts)
      throws IOException {
    MiniDFSCluster dfs;
    if (hosts.size() > 1) {
      Hosts.checkResolution(hosts);
      Hosts.applyRacks(hosts);
      dfs = Hosts.startDfs(base, hosts);
    } else {
      // The DataNode registers as "localhost", the name the NodeManager runs under, as
      // DataNode and NodeManager share a host name on a real cluster; block locations
      // then name the node YARN schedules on (MiniDFSCluster's default is 127.0.0.1).
      dfs =
          new MiniDFSCluster.Builder(base)
              .numDataNodes(1)
              .hosts(new String[] {"localhost"})
              .format(true)
              .build();
      Runtime.getRuntime().addShutdownHook(new Thread(dfs::shutdown, "stop-dfs"));
    }
    dfs.waitActive();
    return dfs;
  }

  /** A ResourceManager and a NodeManager per host, started. */
  private static MiniYARNCluster startYarn(
      YarnConfiguration yconf, List<Hosts.Host> hosts, Path workDir) throws IOException {
    boolean multiHost = hosts.size() > 1;
    // With several hosts the NodeManagers are started here, one per host name.
    int miniNodeManagers = multiHost ? 0 : 1;
    MiniYARNCluster yarn =
        new MiniYARNCluster("spindle-minicluster", 1, miniNodeManagers, 1, 1);
    // Registered after DFS's hook; hooks run concurrently, and YARN stopping while HDFS
    // goes down only costs log noise.
    Runtime.getRuntime().addShutdownHook(new Thread(yarn::stop, "stop-yarn"));
    yarn.init(yconf);
    yarn.start();
    if (multiHost) {
      Hosts.startNodeManagers(yarn.getConfig(), hosts, workDir);
    }
    return yarn;
  }

  /** Runs {@code action} as HDFS's principal in secure mode, else as it is. */
  static <T> T asHdfs(Secure secure, PrivilegedExceptionAction<T> action)
      throws Exception {
    return secure == null ? action.run() : secure.asHdfs(action);
  }

  /** Runs {@code action} as YARN's principal in secure mode, else as it is. */
  private static <T> T asYarn(Secure secure, PrivilegedExceptionAction<T> action)
      throws Exception {
    return secure == null ? action.run() : secure.asYarn(action);
  }

  /** Waits until the ResourceManager counts {@code expected} running NodeManagers. */
  private static void waitForNodeManagers(ResourceManager rm, int expected)
      throws Exception {
    long deadline = System.currentTimeMillis() + NM_WAIT_MS;
    GetClusterMetricsRequest req = GetClusterMetricsRequest.newInstance();
    while (true) {
      int running =
          rm
              .getClientRMService()
              .getClusterMetrics(req)
              .getClusterMetrics()
              .getNumNodeManagers();
      if (running >= expected) {
        return;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException(
            running + " of " + expected + " NodeManagers registered within " + NM_WAIT_MS + " ms");
      }
      Thread.sleep(100);
    }
  }

  /** Jersey and Guice log through java.util.logging at INFO; keep only warnings. */
  private static void quietJulLogging() {
    java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
    root.setLevel(java.util.logging.Level.WARNING);
    for (java.util.logging.Handler h : root.getHandlers()) {
      h.setLevel(java.util.logging.Level.WARNING);
    }
  }

  /** Writes and deletes a small file: the NameNode is out of safe mode and a DataNode takes blocks. */
  private static void probeHdfs(MiniDFSCluster dfs) throws IOException {
    FileSystem fs = dfs.getFileSystem();
    org.apache.hadoop.fs.Path probe = new org.apache.hadoop.fs.Path("/tmp/.spindle-probe");
    try (FSDataOutputStream out = fs.create(probe, true)) {
      out.writeBytes("ok");
    }
    fs.delete(probe, false);
  }

  /**
   * Blocks until stdin reaches end of file, carrying out each line read as a control
   * line ({@code failover}, {@code restart-rm}, {@code stop-rm}, {@code start-rm}; see
   * {@link ResourceManagers#control}) and answering on stdout with {@code DONE <line> <what
   * happened>} or {@code FAILED <line>: <why>}. When stdin is /dev/null (CI, nohup) EOF
   * means nothing, so only a signal stops the cluster.
   */
  private static void waitForStop(ResourceManagers rms, PrintStream out)
      throws InterruptedException {
    if (stdinIsDevNull()) {
      new CountDownLatch(1).await();
      return;
    }
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    try {
      String line;
      while ((line = in.readLine()) != null) {
        line = line.trim();
        if (!line.isEmpty()) {
          out.println(control(rms, line));
          out.flush();
        }
      }
    } catch (IOException e) {
      // No usable stdin at all (closed descriptor): behave as with /dev/null.
      System.err.println("stdin unreadable (" + e + "), stopping only on a signal");
      new CountDownLatch(1).await();
    }
    System.err.println("stdin closed, stopping the minicluster");
  }

  /**
   * Starts a watch that halts the JVM if the daemons have not stopped within {@link
   * #STOP_WITHIN_MS}. It is a daemon thread, so a shutdown that ends in time never waits for
   * it.
   */
  private static void haltIfStopHangs() {
    Thread watch =
        new Thread(
            () -> {
              try {
                Thread.sleep(STOP_WITHIN_MS);
              } catch (InterruptedException e) {
                return;
              }
              System.err.println(
                  "minicluster: daemons still stopping after "
                      + STOP_WITHIN_MS / 1000
                      + " s; halting");
              Runtime.getRuntime().halt(1);
            },
            "stop-watch");
    watch.setDaemon(true);
    watch.start();
  }

  /** The answer to one control line. */
  private static String control(ResourceManagers rms, String line) {
    if (rms == null) {
      return "FAILED " + line + ": control lines need a cluster started with --rms N";
    }
    System.err.println("control line: " + line);
    try {
      return "DONE " + line + " " + rms.control(line);
    } catch (Exception e) {
      e.printStackTrace();
      return "FAILED " + line + ": " + e;
    }
  }

  private static boolean stdinIsDevNull() {
    try {
      return Files.isSameFile(Path.of("/proc/self/fd/0"), Path.of("/dev/null"));
    } catch (IOException e) {
      return false;
    }
  }

  /** Command line options. */
  private static final class Options {
    Path confDir;
    Path workDir;
    int hosts = 1;
    /** 0: MiniYARNCluster's one ResourceManager; else this many, restartable. */
    int rms = 0;
    /** 0: one rack below four hosts, two from four on. */
    int racks = 0;
    /** Null unless --secure. */
    Secure.Settings secure;
    /** YARN enforces application ACLs. */
    boolean acls;
    /** A second HDFS runs beside the default filesystem. */
    boolean secondDfs;
    /** Null, or the exclusive node label of the last host. */
    String nodeLabel;
    /** GPUs (yarn.io/gpu) on each NodeManager; 0: no GPU resource type. */
    int gpus;

    static Options parse(String[] args) {
      Options o = new Options();
      boolean secure = false;
      String protection = "privacy";
      long tokenRenewS = 0;
      long tokenMaxS = 0;
      long rollS = 0;
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--secure")) {
          secure = true;
          continue;
        }
        if (a.equals("--acls")) {
          o.acls = true;
          continue;
        }
        if (a.equals("--second-dfs")) {
          o.secondDfs = true;
          continue;
        }
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("missing value after " + a);
        }
        switch (a) {
          case "--conf-dir":
            o.confDir = Path.of(args[++i]);
            break;
          case "--work-dir":
            o.workDir = Path.of(args[++i]);
            break;
          case "--hosts":
            o.hosts = Integer.parseInt(args[++i]);
            break;
          case "--racks":
            o.racks = Integer.parseInt(args[++i]);
            break;
          case "--rms":
            o.rms = Integer.parseInt(args[++i]);
            break;
          case "--node-label":
            o.nodeLabel = args[++i];
            break;
          case "--gpus":
            o.gpus = Integer.parseInt(args[++i]);
            break;
          case "--rpc-protection":
            protection = args[++i];
            break;
          case "--token-renew-interval-s":
            tokenRenewS = Long.parseLong(args[++i]);
            break;
          case "--token-max-lifetime-s":
            tokenMaxS = Long.parseLong(args[++i]);
            break;
          case "--am-rm-token-roll-s":
            rollS = Long.parseLong(args[++i]);
            break;
          default:
            throw new IllegalArgumentException("unknown option " + a);
        }
      }
      if (o.confDir == null) {
        throw new IllegalArgumentException("--conf-dir DIR is required");
      }
      if (o.workDir == null) {
        o.workDir = new File(System.getProperty("user.dir")).toPath().resolve("work");
      }
      if (o.hosts < 1 || o.hosts > MAX_HOSTS) {
        throw new IllegalArgumentException("--hosts must be 1 to " + MAX_HOSTS);
      }
      if (o.racks == 0) {
        o.racks = o.hosts >= 4 ? 2 : 1;
      }
      if (o.racks < 1 || o.racks > o.hosts) {
        throw new IllegalArgumentException("--racks must be 1 to the number of hosts");
      }
      if (o.nodeLabel != null && (o.hosts < 2 || o.rms > 0)) {
        // One host in an exclusive label would leave nowhere for unlabelled containers.
        throw new IllegalArgumentException("--node-label needs --hosts 2 or more, without --rms");
      }
      if (o.gpus < 0 || o.gpus > 64) {
        throw new IllegalArgumentException("--gpus must be 0 to 64");
      }
      if (o.rms < 0 || o.rms > MAX_RMS) {
        throw new IllegalArgumentException("--rms must be 1 to " + MAX_RMS);
      }
      if (secure) {
        // Each simulated host would need principals of its own name, and DataNodes call
        // one another as this JVM's login user, which secure mode leaves at yarn.
        if (o.hosts > 1) {
          throw new IllegalArgumentException("--secure runs one host only");
        }
        o.secure = new Secure.Settings(protection, tokenRenewS, tokenMaxS, rollS);
      }
      return o;
    }
  }
}
