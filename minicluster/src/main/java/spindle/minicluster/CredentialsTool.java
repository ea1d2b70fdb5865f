package spindle.minicluster;

import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.security.Credentials;
import org.apache.hadoop.security.token.Token;

/**
 * Cross-checks spindle's Credentials (HDTS) reader and writer against Hadoop's own
 * {@link Credentials} class.
 *
 * <ul>
 *   <li>{@code dump FILE}: reads FILE with Hadoop and prints one sorted line per entry:
 *       {@code token <alias> <kind> <service> <identifier hex> <password hex>} or
 *       {@code secret <alias> <hex>}.
 *   <li>{@code write FILE writable|protobuf}: writes a fixed sample with Hadoop.
 * </ul>
 */
public final class CredentialsTool {
  private CredentialsTool() {}

  public static void main(String[] args) throws Exception {
    Configuration conf = new Configuration(false);
    if (args.length == 2 && args[0].equals("dump")) {
      Credentials c = Credentials.readTokenStorageFile(new File(args[1]), conf);
      List<String> lines = new ArrayList<>();
      for (Map.Entry<Text, Token<?>> e : tokenMap(c).entrySet()) {
        Token<?> t = e.getValue();
        lines.add(
            String.join(
                " ",
                "token",
                e.getKey().toString(),
                t.getKind().toString(),
                t.getService().toString(),
                hex(t.getIdentifier()),
                hex(t.getPassword())));
      }
      for (Map.Entry<Text, byte[]> e : secretKeyMap(c).entrySet()) {
        lines.add("secret " + e.getKey() + " " + hex(e.getValue()));
      }
      Collections.sort(lines);
      lines.forEach(System.out::println);
    } else if (args.length == 3 && args[0].equals("write")) {
      Credentials c = new Credentials();
      c.addToken(
          new Text("amrm"),
          new Token<>(
              new byte[] {1, 2, 3},
              new byte[] {4, 5},
              new Text("YARN_AM_RM_TOKEN"),
              new Text("127.0.0.1:8030")));
      byte[] big = new byte[300];
      for (int i = 0; i < big.length; i++) {
        big[i] = (byte) i;
      }
      c.addToken(new Text("big"), new Token<>(big, new byte[0], new Text("K"), new Text("")));
      c.addSecretKey(new Text("spindle.secret"), new byte[] {(byte) 0xff, 0});
      Credentials.SerializedFormat format =
          args[2].equals("protobuf")
              ? Credentials.SerializedFormat.PROTOBUF
              : Credentials.SerializedFormat.WRITABLE;
      c.writeTokenStorageFile(new Path(new File(args[1]).getAbsolutePath()), conf, format);
    } else {
      System.err.println("usage: CredentialsTool dump FILE | write FILE writable|protobuf");
      System.exit(2);
    }
  }

  private static String hex(byte[] b) {
    StringBuilder s = new StringBuilder();
    for (byte x : b) {
      s.append(String.format("%02x", x & 0xff));
    }
    return s.length() == 0 ? "-" : s.toString();
  }

  /**
   * Tokens by alias. {@code Credentials.getTokenMap()} and {@code getSecretKeyMap()} came
   * in Hadoop 3.2; the fields they return are older, so reading those keeps the tool
   * working on 3.1.
   */
  @SuppressWarnings("unchecked")
  private static Map<Text, Token<?>> tokenMap(Credentials c) throws ReflectiveOperationException {
    return (Map<Text, Token<?>>) field(c, "tokenMap");
  }

  /** Secret keys by alias; see {@link #tokenMap}. */
  @SuppressWarnings("unchecked")
  private static Map<Text, byte[]> secretKeyMap(Credentials c) throws ReflectiveOperationException {
    return (Map<Text, byte[]>) field(c, "secretKeysMap");
  }

  private static Object field(Credentials c, String name) throws ReflectiveOperationException {
    java.lang.reflect.Field f = Credentials.class.getDeclaredField(name);
    f.setAccessible(true);
    return f.get(c);
  }
}
