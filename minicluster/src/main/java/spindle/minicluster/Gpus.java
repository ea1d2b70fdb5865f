package spindle.minicluster;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.yarn.util.resource.ResourceUtils;

/**
 * GPUs as YARN counts them: the {@code yarn.io/gpu} resource type, with {@code count} on
 * every NodeManager (as {@code node-resources.xml} declares them; no GPU plugin, so no
 * device is isolated or even present), and the capacity scheduler weighing every resource
 * type, so a node's GPUs bound what it grants.
 */
final class Gpus {
  static final String TYPE = "yarn.io/gpu";

  private Gpus() {}

  static void apply(Configuration yarn, int count) {
    yarn.set("yarn.resource-types", TYPE);
    yarn.set("yarn.resource-types." + TYPE + ".maximum-allocation", Integer.toString(count));
    yarn.set("yarn.nodemanager.resource-type." + TYPE, Integer.toString(count));
    yarn.set(
        "yarn.scheduler.capacity.resource-calculator",
        "org.apache.hadoop.yarn.util.resource.DominantResourceCalculator");
    // The resource types are read once per JVM: from this configuration, not from
    // whichever read them first.
    ResourceUtils.resetResourceTypes(yarn);
    ResourceUtils.resetNodeResources();
  }
}
