package spindle.minicluster;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.ha.HAServiceProtocol;
import org.apache.hadoop.ha.HAServiceProtocol.StateChangeRequestInfo;
import org.apache.hadoop.metrics2.lib.DefaultMetricsSystem;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;

/**
 * The ResourceManagers of a cluster started with {@code --rms N}. They run outside
 * MiniYARNCluster, which can neither restart a ResourceManager nor let NodeManagers follow
 * a failover without RPC, so that each one can be stopped and started again on the same
 * ports. They keep their state in a store in the work dir and recover applications from
 * it, work-preserving: running containers survive a restart or a failover. Two or more
 * form an HA pair with manual failover, as {@code yarn rmadmin -failover} does it; the
 * client configuration then names every RM by id, as a real cluster's does. On a secure
 * cluster they run as YARN's principal, restarts included.
 */
final class ResourceManagers {
  /** The NodeManagers' retry interval toward a missing RM (Hadoop's default is 30 s). */
  private static final int RETRY_INTERVAL_MS = 500;

  private static final StateChangeRequestInfo BY_ADMIN =
      new StateChangeRequestInfo(HAServiceProtocol.RequestSource.REQUEST_BY_USER);

  private final YarnConfiguration shared;
  /** Null on an insecure cluster; else RMs start as YARN's principal. */
  private final Secure secure;
  private final List<String> ids = new ArrayList<>();
  private final ResourceManager[] rms;
  private int active;

  private ResourceManagers(YarnConfiguration shared, int count, Secure secure) {
    this.shared = shared;
    this.secure = secure;
    this.rms = new ResourceManager[count];
    for (int i = 1; i <= count; i++) {
      ids.add("rm" + i);
    }
  }

  /**
   * Starts {@code count} ResourceManagers with {@code yconf}'s settings (one keeps the
   * addresses ClusterConf picked; with more, each id gets ports of its own) and makes the
   * first one active.
   */
  static ResourceManagers start(
      YarnConfiguration yconf, int count, Path workDir, Secure secure) throws Exception {
    DefaultMetricsSystem.setMiniClusterMode(true);
    yconf.setBoolean(YarnConfiguration.IS_MINI_YARN_CLUSTER, true);
    yconf.setBoolean(YarnConfiguration.RECOVERY_ENABLED, true);
    yconf.setBoolean(YarnConfiguration.RM_WORK_PRESERVING_RECOVERY_ENABLED, true);
    // After a restart the scheduler waits this long for NodeManagers to report their
    // containers before it allocates; Hadoop's 10 s only slows tests down.
    yconf.setLong(YarnConfiguration.RM_WORK_PRESERVING_RECOVERY_SCHEDULING_WAIT_MS, 2000);
    yconf.set(
        YarnConfiguration.RM_STORE,
        "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore");
    yconf.set(
        YarnConfiguration.FS_RM_STATE_STORE_URI,
        workDir.resolve("rm-state").toAbsolutePath().toUri().toString());
    yconf.setLong(YarnConfiguration.RESOURCEMANAGER_CONNECT_RETRY_INTERVAL_MS, RETRY_INTERVAL_MS);
    yconf.setLong(YarnConfiguration.CLIENT_FAILOVER_SLEEPTIME_BASE_MS, 200);
    yconf.setLong(YarnConfiguration.CLIENT_FAILOVER_SLEEPTIME_MAX_MS, 1000);
    ResourceManagers set = new ResourceManagers(yconf, count, secure);
    if (count > 1) {
      set.configureHa();
    }
    for (int i = 0; i < count; i++) {
      set.rms[i] = set.startOne(i);
    }
    set.activate(0);
    return set;
  }

  /** The HA keys a client reads: ids, and every address per id on ports of its own. */
  private void configureHa() throws IOException {
    shared.setBoolean(YarnConfiguration.RM_HA_ENABLED, true);
    shared.set(YarnConfiguration.RM_HA_IDS, String.join(",", ids));
    shared.set(YarnConfiguration.RM_CLUSTER_ID, "spindle-minicluster");
    // Failover is the launcher's to order (control lines), not a ZooKeeper election's.
    shared.setBoolean(YarnConfiguration.AUTO_FAILOVER_ENABLED, false);
    shared.setBoolean(YarnConfiguration.AUTO_FAILOVER_EMBEDDED, false);
    List<String> keys = new ArrayList<>(ClusterConf.RM_ADDRESS_KEYS);
    keys.add("yarn.resourcemanager.webapp.https.address");
    for (String id : ids) {
      shared.set("yarn.resourcemanager.hostname." + id, "127.0.0.1");
      for (String key : keys) {
        shared.set(key + "." + id, "127.0.0.1:" + ClusterConf.freePort());
      }
    }
    // Under HA a client must pick an RM by id; the single-RM keys would only mislead.
    for (String key : keys) {
      shared.unset(key);
    }
  }

  private ResourceManager startOne(int index) {
    YarnConfiguration c = new YarnConfiguration(shared);
    if (rms.length > 1) {
      c.set(YarnConfiguration.RM_HA_ID, ids.get(index));
    }
    ResourceManager rm = new ResourceManager();
    rm.init(c);
    rm.start();
    Runtime.getRuntime().addShutdownHook(new Thread(rm::stop, "stop-" + ids.get(index)));
    return rm;
  }

  private void activate(int index) throws IOException {
    if (rms.length > 1) {
      rms[index].getRMContext().getRMAdminService().transitionToActive(BY_ADMIN);
    }
    active = index;
  }

  /** The active ResourceManager. */
  synchronized ResourceManager active() {
    return rms[active];
  }

  /** What clients read: the shared settings, with every RM's address. */
  Configuration clientConf() {
    return shared;
  }

  /**
   * Carries out one control line; returns what happened, in words, or throws with why
   * it could not.
   */
  synchronized String control(String line) throws Exception {
    // A restarted RM logs in as YARN's principal, as the first one did.
    return secure == null ? carryOut(line) : secure.asYarn(() -> carryOut(line));
  }

  private String carryOut(String line) throws Exception {
    switch (line) {
      case "failover":
        return failover();
      case "restart-rm":
        return restartActive();
      case "stop-rm":
        return stopActive();
      case "start-rm":
        return startStopped();
      default:
        throw new IllegalArgumentException(
            "unknown control line (known: failover, restart-rm, stop-rm, start-rm)");
    }
  }

  /** The active RM becomes standby and the next running one active. */
  private String failover() throws Exception {
    int from = active;
    int to = nextRunning();
    rms[from].getRMContext().getRMAdminService().transitionToStandby(BY_ADMIN);
    activate(to);
    return "active=" + ids.get(to);
  }

  /**
   * Stops the active RM and starts a new one on the same ports, which recovers every
   * application from the store; under HA it becomes the active one again.
   */
  private String restartActive() throws Exception {
    rms[active].stop();
    rms[active] = startOne(active);
    activate(active);
    return "active=" + ids.get(active);
  }

  /** Stops the active RM for good; under HA the next one becomes active first. */
  private String stopActive() throws Exception {
    int from = active;
    if (rms.length < 2) {
      throw new IllegalStateException("stop-rm needs a second ResourceManager (--rms 2)");
    }
    int to = nextRunning();
    rms[from].getRMContext().getRMAdminService().transitionToStandby(BY_ADMIN);
    rms[from].stop();
    activate(to);
    return "active=" + ids.get(to) + " stopped=" + ids.get(from);
  }

  /** Starts every stopped RM again on its ports, as a standby. */
  private String startStopped() {
    List<String> started = new ArrayList<>();
    for (int i = 0; i < rms.length; i++) {
      if (!isRunning(i)) {
        rms[i] = startOne(i);
        started.add(ids.get(i));
      }
    }
    if (started.isEmpty()) {
      throw new IllegalStateException("every ResourceManager is running");
    }
    return "active=" + ids.get(active) + " started=" + String.join(",", started);
  }

  private boolean isRunning(int index) {
    return rms[index].isInState(org.apache.hadoop.service.Service.STATE.STARTED);
  }

  private int nextRunning() {
    for (int step = 1; step < rms.length; step++) {
      int i = (active + step) % rms.length;
      if (isRunning(i)) {
        return i;
      }
    }
    throw new IllegalStateException("no other ResourceManager is running (start with --rms 2)");
  }
}
