package spindle.minicluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A second HDFS (NameNode and one DataNode) beside the default filesystem, as a user's
 * other cluster: Skein's {@code file_systems} names such filesystems, whose delegation
 * tokens an application needs on a Kerberos cluster. It holds {@value #FILE} (everyone
 * may read it) and, when secure, the test user's home. Its URL goes to {@code
 * <conf-dir>/second-dfs}; clients reach it with the default filesystem's settings.
 */
final class SecondDfs {
  static final String FILE = "/shared/second.txt";
  static final String CONTENT = "from the second filesystem\n";

  private SecondDfs() {}

  static void start(Configuration base, Path workDir, Path confDir, Secure secure)
      throws Exception {
    Configuration conf = new Configuration(base);
    conf.set("hdfs.minidfs.basedir", workDir.resolve("dfs2").toAbsolutePath().toString());
    MiniDFSCluster dfs =
        Launcher.asHdfs(
            secure,
            () -> {
              MiniDFSCluster started = Launcher.startDfs(conf, List.of(Hosts.LOCAL));
              FileSystem fs = started.getFileSystem();
              if (secure != null) {
                Secure.prepareHdfs(fs, ClusterConf.REMOTE_LOG_DIR);
              }
              try (FSDataOutputStream out =
                  fs.create(new org.apache.hadoop.fs.Path(FILE), true)) {
                out.write(CONTENT.getBytes(StandardCharsets.UTF_8));
              }
              return started;
            });
    String url = FileSystem.getDefaultUri(dfs.getConfiguration(0)).toString();
    write(confDir.resolve("second-dfs"), url + "\n");
  }

  private static void write(Path path, String text) throws IOException {
    Files.createDirectories(path.getParent());
    Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
    Files.writeString(tmp, text);
    Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE);
  }
}
