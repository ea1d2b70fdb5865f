package spindle.minicluster;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.net.NetUtils;
import org.apache.hadoop.net.StaticMapping;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.nodemanager.NodeManager;

/**
 * The simulated machines of a multi-host cluster. Host {@code i} (from 1) is named
 * {@code spindle-host-i}, lives at the loopback alias {@code 127.0.0.(i+1)} and runs one
 * DataNode and one NodeManager that bind that address and register under that name, so
 * HDFS block locations and YARN node ids name the same hosts, as on a real cluster.
 * The names must resolve (the hosts file); {@code scripts/minicluster.sh} adds them.
 * DataNodes reach the NameNode from their host's address ({@link
 * SourceBoundSocketFactory}), so the NameNode records each at its own address. Clients
 * (spindle's workers among them) still reach the NameNode from 127.0.0.1, so the
 * NameNode cannot tell which host a client is on.
 */
final class Hosts {
  static final String NAME_PREFIX = "spindle-host-";

  /** One simulated machine. */
  record Host(int index, String name, String address, String rack) {}

  /**
   * The one machine of a single-host cluster, named as MiniDFSCluster's DataNode
   * registers, so block locations and the NodeManager's node id agree.
   */
  static final Host LOCAL = new Host(1, "localhost", "127.0.0.1", "/default-rack");

  private Hosts() {}

  /** {@code count} hosts spread in contiguous runs over {@code racks} racks. */
  static List<Host> plan(int count, int racks) {
    List<Host> hosts = new ArrayList<>();
    for (int i = 1; i <= count; i++) {
      int rack = (i - 1) * racks / count + 1;
      hosts.add(new Host(i, NAME_PREFIX + i, "127.0.0." + (i + 1), "/rack-" + rack));
    }
    return hosts;
  }

  /** Fails unless every host name resolves to its address. */
  static void checkResolution(List<Host> hosts) {
    for (Host h : hosts) {
      String got;
      try {
        got = InetAddress.getByName(h.name()).getHostAddress();
      } catch (UnknownHostException e) {
        got = "nothing";
      }
      if (!got.equals(h.address())) {
        throw new IllegalStateException(
            h.name() + " resolves to " + got + ", not " + h.address()
                + ": add '" + h.address() + " " + h.name() + "' to /etc/hosts"
                + " (scripts/minicluster.sh does so when run as root)");
      }
    }
  }

  /** Makes each host's rack known to the NameNode and the ResourceManager. */
  static void applyRacks(List<Host> hosts) {
    for (Host h : hosts) {
      // The NameNode looks a DataNode up by name; YARN's resolver by address.
      StaticMapping.addNodeToRack(h.name(), h.rack());
      StaticMapping.addNodeToRack(h.address(), h.rack());
    }
  }

  /**
   * A NameNode and one DataNode per host. The first DataNode starts with the cluster
   * (MiniDFSCluster sets the default replication to min(3, DataNodes at build), so
   * blocks get one replica: each block lives on exactly one host), the rest after it,
   * each with its own addresses. Ports are picked up front and distinct across hosts:
   * an ephemeral port may repeat across addresses.
   */
  static MiniDFSCluster startDfs(Configuration base, List<Host> hosts) throws IOException {
    Host first = hosts.get(0);
    bindDataNode(base, first);
    MiniDFSCluster dfs =
        new MiniDFSCluster.Builder(base)
            .numDataNodes(1)
            .hosts(new String[] {first.name()})
            .racks(new String[] {first.rack()})
            .checkDataNodeAddrConfig(true)
            .format(true)
            .build();
    Runtime.getRuntime().addShutdownHook(new Thread(dfs::shutdown, "stop-dfs"));
    for (Host h : hosts.subList(1, hosts.size())) {
      Configuration c = new Configuration(base);
      bindDataNode(c, h);
      dfs.startDataNodes(
          c, 1, true, null, new String[] {h.rack()}, new String[] {h.name()}, null, false, true);
    }
    // MiniDFSCluster points each DataNode's name at "localhost" for this JVM's clients
    // (the NodeManagers' localizers and log uploads among them); point it back.
    for (Host h : hosts) {
      NetUtils.addStaticResolution(h.name(), h.address());
    }
    return dfs;
  }

  private static void bindDataNode(Configuration c, Host h) throws IOException {
    c.set("dfs.datanode.address", h.address() + ":" + ClusterConf.freePort(h.address()));
    c.set("dfs.datanode.http.address", h.address() + ":" + ClusterConf.freePort(h.address()));
    c.set("dfs.datanode.ipc.address", h.address() + ":" + ClusterConf.freePort(h.address()));
    c.set(SourceBoundSocketFactory.ADDRESS_KEY, h.address());
    c.set(SourceBoundSocketFactory.DATANODE_FACTORY_KEY, SourceBoundSocketFactory.class.getName());
  }

  /**
   * One NodeManager per host, registered with the running ResourceManager under the
   * host's name (its node id, and {@code NM_HOST} in its containers) and bound to the
   * host's address.
   */
  static List<NodeManager> startNodeManagers(
      Configuration yarnConf, List<Host> hosts, Path workDir) throws IOException {
    List<NodeManager> started = new ArrayList<>();
    for (Host h : hosts) {
      YarnConfiguration c = new YarnConfiguration(yarnConf);
      Path dir = workDir.resolve("nm").resolve(h.name());
      Path local = Files.createDirectories(dir.resolve("local"));
      Path logs = Files.createDirectories(dir.resolve("logs"));
      c.set(YarnConfiguration.NM_LOCAL_DIRS, local.toAbsolutePath().toString());
      c.set(YarnConfiguration.NM_LOG_DIRS, logs.toAbsolutePath().toString());
      c.set("yarn.nodemanager.hostname", h.name());
      for (String key :
          List.of(
              YarnConfiguration.NM_ADDRESS,
              YarnConfiguration.NM_LOCALIZER_ADDRESS,
              YarnConfiguration.NM_WEBAPP_ADDRESS,
              YarnConfiguration.NM_COLLECTOR_SERVICE_ADDRESS,
              YarnConfiguration.AMRM_PROXY_ADDRESS)) {
        c.set(key, h.address() + ":0");
      }
      NodeManager nm = new NodeManager();
      nm.init(c);
      Runtime.getRuntime().addShutdownHook(new Thread(nm::stop, "stop-nm-" + h.index()));
      nm.start();
      started.add(nm);
    }
    return started;
  }
}
