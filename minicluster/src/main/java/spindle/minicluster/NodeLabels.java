package spindle.minicluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.yarn.api.records.NodeId;
import org.apache.hadoop.yarn.api.records.NodeLabel;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.resourcemanager.nodelabels.RMNodeLabelsManager;

/**
 * A node label (a YARN partition) on one host, as an administrator sets one with {@code
 * yarn rmadmin -addToClusterNodeLabels} and {@code -replaceLabelsOnNode}: exclusive, so
 * only containers that ask for the label run there, and the default queue may use all of
 * it. The label and the host's mapping are written to the label store before the
 * ResourceManager starts, which reads them back as it would after a restart (the
 * capacity scheduler checks its queues' labels against the cluster's when it starts).
 */
final class NodeLabels {
  private NodeLabels() {}

  static void apply(Configuration yarn, Path workDir, String label, String host)
      throws Exception {
    Path store = Files.createDirectories(workDir.resolve("node-labels"));
    yarn.setBoolean(YarnConfiguration.NODE_LABELS_ENABLED, true);
    yarn.set(YarnConfiguration.FS_NODE_LABELS_STORE_ROOT_DIR, store.toUri().toString());
    for (String queue : List.of("root", "root.default")) {
      String prefix = "yarn.scheduler.capacity." + queue + ".accessible-node-labels";
      yarn.set(prefix, label);
      yarn.set(prefix + "." + label + ".capacity", "100");
      yarn.set(prefix + "." + label + ".maximum-capacity", "100");
    }
    RMNodeLabelsManager labels = new RMNodeLabelsManager();
    labels.init(yarn);
    labels.start();
    try {
      labels.addToCluserNodeLabels(List.of(NodeLabel.newInstance(label, true)));
      // Port 0: every NodeManager on the host.
      labels.replaceLabelsOnNode(Map.of(NodeId.newInstance(host, 0), Set.of(label)));
    } finally {
      labels.stop();
    }
  }
}
