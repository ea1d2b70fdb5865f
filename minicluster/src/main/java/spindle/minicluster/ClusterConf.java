package spindle.minicluster;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/** Configuration the launcher gives the daemons, and the client files it writes out. */
final class ClusterConf {
  /** Addresses a client or AM needs; none may be left with port 0 in the written files. */
  static final List<String> RM_ADDRESS_KEYS =
      List.of(
          "yarn.resourcemanager.address",
          "yarn.resourcemanager.scheduler.address",
          "yarn.resourcemanager.resource-tracker.address",
          "yarn.resourcemanager.admin.address",
          "yarn.resourcemanager.webapp.address");

  /** Where NodeManagers aggregate container logs, in the default filesystem. */
  static final String REMOTE_LOG_DIR = "/tmp/logs";

  private static final long PORT_WAIT_MS = 10_000;

  /**
   * Settings of the simulated hosts' DataNodes (see {@link SourceBoundSocketFactory}),
   * which would bind a client's sockets to a DataNode's address.
   */
  private static final List<String> DAEMON_ONLY_PREFIXES =
      List.of("spindle.minicluster.", "hadoop.rpc.socket.factory.class.");

  /** A user in HDFS's superuser group whom nothing gives a home: see {@link #base}. */
  static final String NEW_ADMIN = "newadmin";

  private ClusterConf() {}

  /** Settings for both clusters: HDFS data under the work dir, small blocks. */
  static Configuration base(Path workDir) {
    Configuration c = new Configuration();
    c.set("hdfs.minidfs.basedir", workDir.resolve("dfs").toAbsolutePath().toString());
    c.setLong("dfs.blocksize", 16L * 1024 * 1024);
    c.set("hadoop.security.authentication", "simple");
    // Let tests impersonate any user through SIMPLE auth.
    c.set("hadoop.proxyuser." + System.getProperty("user.name") + ".hosts", "*");
    c.set("hadoop.proxyuser." + System.getProperty("user.name") + ".groups", "*");
    // A second HDFS superuser with no home yet, as a new cluster's administrator is.
    c.set("hadoop.user.group.static.mapping.overrides", "dr.who=;" + NEW_ADMIN + "=supergroup");
    return c;
  }

  /**
   * YARN settings. MiniYARNCluster would rewrite every address to {@code <hostname>:0};
   * with fixed ports it keeps ours, so all daemons bind 127.0.0.1 whatever the machine's
   * hostname resolves to. RM ports are picked free up front; NodeManagers take ephemeral
   * ports because clients learn them from the RM.
   */
  static void applyYarn(Configuration c, Path workDir) throws IOException {
    c.setBoolean("yarn.minicluster.fixed.ports", true);
    // The ResourceManager's node-attribute store defaults to a directory under /tmp that
    // every cluster on the machine shares; and it retries a failing mkdir 1000 times, a
    // second apart, without a word. Keep it in the work dir, and let a failure show.
    c.set(
        "yarn.node-attribute.fs-store.root-dir",
        workDir.resolve("node-attribute").toUri().toString());
    c.setInt("yarn.resourcemanager.nodestore-rootdir.num-retries", 3);
    c.set("yarn.resourcemanager.hostname", "127.0.0.1");
    for (String key : RM_ADDRESS_KEYS) {
      c.set(key, "127.0.0.1:" + freePort());
    }
    c.set("yarn.resourcemanager.webapp.https.address", "127.0.0.1:" + freePort());
    c.set("yarn.nodemanager.hostname", "127.0.0.1");
    c.set("yarn.nodemanager.address", "127.0.0.1:0");
    c.set("yarn.nodemanager.localizer.address", "127.0.0.1:0");
    c.set("yarn.nodemanager.webapp.address", "127.0.0.1:0");
    c.set("yarn.nodemanager.collector-service.address", "127.0.0.1:0");
    c.set("yarn.nodemanager.amrmproxy.address", "127.0.0.1:0");

    c.setInt("yarn.scheduler.minimum-allocation-mb", 128);
    c.setFloat("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", 100f);
    c.setBoolean("yarn.nodemanager.vmem-check-enabled", false);
    c.setBoolean("yarn.nodemanager.pmem-check-enabled", false);
    // Room for several small applications at once: tests run theirs in parallel, and
    // the default (10% of the cluster for AMs) would queue all but one.
    c.setInt("yarn.nodemanager.resource.memory-mb", 8192);
    // MiniYARNCluster overrides the line above with this one.
    c.setInt("yarn.minicluster.yarn.nodemanager.resource.memory-mb", 8192);
    c.setInt("yarn.nodemanager.resource.cpu-vcores", 16);
    // As on real clusters, NodeManagers move a finished application's container logs into
    // the default filesystem, where `spindle logs` reads them.
    c.setBoolean("yarn.log-aggregation-enable", true);
    c.set("yarn.nodemanager.remote-app-log-dir", REMOTE_LOG_DIR);
    c.setFloat("yarn.scheduler.capacity.maximum-am-resource-percent", 0.5f);
    // The capacity scheduler's queue layout, in case no capacity-scheduler.xml is on the
    // class path (the shaded minicluster lacks it).
    c.set("yarn.scheduler.capacity.root.queues", "default");
    c.set("yarn.scheduler.capacity.root.default.capacity", "100");
    c.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
    c.set("yarn.scheduler.capacity.root.default.user-limit-factor", "1");
    c.set("yarn.scheduler.capacity.root.default.state", "RUNNING");
    c.set("yarn.scheduler.capacity.root.default.acl_submit_applications", "*");
    c.set("yarn.scheduler.capacity.root.default.acl_administer_queue", "*");
  }

  /**
   * Application ACLs enforced, as on a multi-tenant cluster: an application's owner, and
   * whoever its ACLs name, alone may see its details or kill it. Cluster and queue
   * administrators may do both, so none is named (the defaults name everyone).
   */
  static void enforceAcls(Configuration c) {
    c.setBoolean("yarn.acl.enable", true);
    c.set("yarn.admin.acl", " ");
    c.set("yarn.scheduler.capacity.root.acl_administer_queue", " ");
    c.set("yarn.scheduler.capacity.root.default.acl_administer_queue", " ");
  }

  /** Polls the live configuration until every RM address carries a real port. */
  static void waitForRealPorts(Configuration live) throws InterruptedException {
    long deadline = System.currentTimeMillis() + PORT_WAIT_MS;
    while (true) {
      String missing = null;
      for (String key : RM_ADDRESS_KEYS) {
        String v = live.get(key, "");
        if (v.isEmpty() || v.endsWith(":0")) {
          missing = key + "=" + v;
        }
      }
      if (missing == null) {
        return;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("resource manager address not bound: " + missing);
      }
      Thread.sleep(100);
    }
  }

  /**
   * Writes core-site.xml (fs.defaultFS and auth), hdfs-site.xml (the NameNode's
   * configuration) and yarn-site.xml (the running RM's configuration). Each file is
   * written to a temporary name and renamed so a reader never sees half a file.
   * {@code securityKeys} (secure mode) go into core-site.xml too, from the RM's
   * configuration, so a client that reads only core-site.xml still speaks Kerberos.
   */
  static void write(
      Configuration dfsConf, Configuration yarnConf, Path dir, List<String> securityKeys)
      throws IOException {
    Configuration core = new Configuration(false);
    core.set("fs.defaultFS", dfsConf.get("fs.defaultFS"));
    core.set("hadoop.security.authentication", "simple");
    for (String key : securityKeys) {
      core.set(key, yarnConf.get(key));
    }
    writeXml(core, dir.resolve("core-site.xml"), "");
    // yarn.* keys that leak into the DFS configuration (yarn.is.minicluster=false) would
    // override yarn-site.xml for clients that load hdfs-site.xml later.
    writeXml(dfsConf, dir.resolve("hdfs-site.xml"), "yarn.");
    writeXml(yarnConf, dir.resolve("yarn-site.xml"), "");
  }

  /**
   * Writes {@code c} without the properties that resolve to port 0 (and those starting with
   * {@code skipPrefix}, unless empty): port-0 properties are daemon bind
   * settings (NodeManager, balancer, mover) that mean nothing to a client, and leaving
   * them would make the files look like they hold unbound addresses.
   */
  private static void writeXml(Configuration all, Path target, String skipPrefix)
      throws IOException {
    Configuration c = new Configuration(false);
    for (Map.Entry<String, String> e : all) {
      String resolved = all.get(e.getKey(), "");
      boolean skipped =
          !skipPrefix.isEmpty() && e.getKey().startsWith(skipPrefix)
              || DAEMON_ONLY_PREFIXES.stream().anyMatch(e.getKey()::startsWith);
      if (!resolved.endsWith(":0") && !skipped) {
        c.set(e.getKey(), e.getValue());
      }
    }
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      c.writeXml(out);
    }
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  static int freePort() throws IOException {
    return freePort("127.0.0.1");
  }

  /**
   * A port free on {@code address} for a server bound later. Probed without
   * SO_REUSEADDR (Java's default on Linux): with it, a port still holding TIME_WAIT
   * connections of a cluster that just stopped looks free, and the daemon's own bind
   * (netty's, without the option) then fails with "Address already in use".
   */
  static int freePort(String address) throws IOException {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(false);
      s.bind(new java.net.InetSocketAddress(InetAddress.getByName(address), 0), 1);
      return s.getLocalPort();
    }
  }
}
