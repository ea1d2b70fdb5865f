package spindle.minicluster;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivilegedExceptionAction;
import java.util.List;
import java.util.Properties;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;

/**
 * The secure mode: a MiniKdc in the work dir, principals and keytabs for the daemons and
 * one test user, and the settings under which HDFS and YARN take only Kerberos (and
 * tokens), as a Kerberized cluster does.
 *
 * <p>Server principals are {@code hdfs/_HOST}, {@code yarn/_HOST} and {@code HTTP/_HOST}.
 * The daemons listen on 127.0.0.1, and Hadoop replaces {@code _HOST} with the name that
 * address resolves back to, which must be {@link #HOST}. A web server puts its bind
 * address in place of {@code _HOST}, so the HTTP keytab holds {@code HTTP/127.0.0.1} too.
 *
 * <p>All daemons share this JVM, which has one process-wide Kerberos login user, and an RPC
 * server takes its principal from the user current on its threads. HDFS therefore starts
 * inside {@link #asHdfs} and YARN inside {@link #asYarn}: a new thread inherits its
 * creator's login (JDK 17's access control context), so each server keeps its own
 * principal whoever logs in later.
 */
final class Secure {
  /** What {@code _HOST} becomes in every server principal. */
  static final String HOST = "localhost";
  /** The test user's name (its principal is {@code alice@REALM}). */
  static final String USER = "alice";
  /** A user with a home directory and no principal, whom the test user may act as. */
  static final String PROXIED = "dave";
  static final List<String> PROTECTIONS = List.of("authentication", "integrity", "privacy");
  /** Settings every client needs; core-site.xml carries them besides the other files. */
  static final List<String> CLIENT_KEYS =
      List.of(
          "hadoop.security.authentication",
          "hadoop.rpc.protection",
          "dfs.namenode.kerberos.principal",
          "dfs.data.transfer.protection",
          "dfs.encrypt.data.transfer.cipher.suites",
          "dfs.block.access.token.enable",
          "yarn.resourcemanager.principal");

  /** Hadoop's default AM and NM liveness expiry (ten minutes). */
  private static final long DEFAULT_EXPIRY_MS = 600_000;
  /** Hadoop's default NodeManager heartbeat, which the NM expiry may not undercut. */
  private static final long NM_HEARTBEAT_MS = 1_000;

  /** The secure mode's command line settings. */
  record Settings(String protection, long tokenRenewS, long tokenMaxS, long rollS) {
    /**
     * The shortest master key rolling interval the ResourceManager accepts: with the NM
     * expiry at its floor, the heartbeat, the interval must exceed three heartbeats.
     */
    static final long MIN_ROLL_S = 3 * NM_HEARTBEAT_MS / 1000 + 1;

    Settings {
      if (!PROTECTIONS.contains(protection)) {
        throw new IllegalArgumentException("--rpc-protection must be one of " + PROTECTIONS);
      }
      if (tokenRenewS < 0) {
        throw new IllegalArgumentException("--token-renew-interval-s must be positive");
      }
      if (tokenMaxS < 0) {
        throw new IllegalArgumentException("--token-max-lifetime-s must be positive");
      }
      if (rollS != 0 && rollS < MIN_ROLL_S) {
        throw new IllegalArgumentException("--am-rm-token-roll-s must be at least " + MIN_ROLL_S);
      }
    }
  }

  private final MiniKdc kdc;
  private final Settings settings;
  private final File hdfsKeytab;
  private final File yarnKeytab;
  private final File httpKeytab;
  private final File userKeytab;
  /** The krb5.conf every container gets, as every node of a real cluster has one. */
  private final Path nodeKrb5Conf;
  private UserGroupInformation hdfs;
  private UserGroupInformation yarn;

  private Secure(MiniKdc kdc, Settings settings, Path keytabs) {
    this.kdc = kdc;
    this.settings = settings;
    this.hdfsKeytab = keytabs.resolve("hdfs.keytab").toFile();
    this.yarnKeytab = keytabs.resolve("yarn.keytab").toFile();
    this.httpKeytab = keytabs.resolve("http.keytab").toFile();
    this.userKeytab = keytabs.resolve("user.keytab").toFile();
    this.nodeKrb5Conf = keytabs.resolve("node-krb5.conf");
  }

  /**
   * Starts the KDC and creates the principals, their keytabs under {@code workDir/kerberos}.
   * Call it before anything reads Kerberos settings: the KDC points
   * {@code java.security.krb5.conf} at its own file, and the JDK loads that file only once.
   */
  static Secure start(Path workDir, Settings settings) throws Exception {
    checkLoopbackName();
    Path dir = Files.createDirectories(workDir.resolve("kerberos"));
    Properties conf = MiniKdc.createConf();
    conf.setProperty(MiniKdc.KDC_BIND_ADDRESS, "127.0.0.1");
    MiniKdc kdc = new MiniKdc(conf, dir.toFile());
    kdc.start();
    Runtime.getRuntime().addShutdownHook(new Thread(kdc::stop, "stop-kdc"));
    Secure s = new Secure(kdc, settings, dir);
    s.createPrincipals();
    writeAtomically(s.nodeKrb5Conf, s.krb5Conf());
    return s;
  }

  /** {@code _HOST} works only if both the daemons and their clients get the same name. */
  private static void checkLoopbackName() throws IOException {
    String name = InetAddress.getByName("127.0.0.1").getCanonicalHostName();
    if (!name.equals(HOST)) {
      throw new IllegalStateException(
          "secure mode needs 127.0.0.1 to resolve back to '" + HOST + "', not '" + name
              + "': make '127.0.0.1 " + HOST + "' the first line for 127.0.0.1 in /etc/hosts");
    }
  }

  private void createPrincipals() throws Exception {
    kdc.createPrincipal(hdfsKeytab, "hdfs/" + HOST);
    kdc.createPrincipal(yarnKeytab, "yarn/" + HOST);
    kdc.createPrincipal(httpKeytab, "HTTP/" + HOST, "HTTP/127.0.0.1");
    kdc.createPrincipal(userKeytab, USER);
    for (File f : List.of(hdfsKeytab, yarnKeytab, httpKeytab, userKeytab)) {
      ownerOnly(f.toPath());
    }
  }

  String realm() {
    return kdc.getRealm();
  }

  /** {@code service/localhost@REALM}: the principal a daemon of {@code service} logs in as. */
  private String serverPrincipal(String service) {
    return service + "/" + HOST + "@" + realm();
  }

  /** {@code service/_HOST@REALM}, as a cluster's configuration names it. */
  private String hostPattern(String service) {
    return service + "/_HOST@" + realm();
  }

  /**
   * Puts the security settings into {@code c} (the base of both clusters' configuration)
   * and logs this JVM in as hdfs, which then formats HDFS and prepares its directories.
   */
  void apply(Configuration c) throws IOException {
    c.set("hadoop.security.authentication", "kerberos");
    c.setBoolean("hadoop.security.authorization", true);
    c.set("hadoop.rpc.protection", settings.protection());
    // The test user may submit on others' behalf (Skein's `user`, a proxy user).
    c.set("hadoop.proxyuser." + USER + ".hosts", "*");
    c.set("hadoop.proxyuser." + USER + ".groups", "*");
    applyHdfs(c);
    applyYarn(c);
    applyTokenLifetimes(c);
    UserGroupInformation.setConfiguration(c);
    UserGroupInformation.loginUserFromKeytab(serverPrincipal("hdfs"), hdfsKeytab.getPath());
    hdfs = UserGroupInformation.getLoginUser();
    yarn =
        UserGroupInformation.loginUserFromKeytabAndReturnUGI(
            serverPrincipal("yarn"), yarnKeytab.getPath());
  }

  private void applyHdfs(Configuration c) {
    // SPNEGO on the NameNode's and DataNodes' web servers (WebHDFS among them); YARN's
    // turn it off again, see applyYarnWeb. "*": every HTTP principal of the keytab, so
    // a client may name the server localhost or 127.0.0.1.
    c.set("hadoop.http.authentication.type", "kerberos");
    c.set("hadoop.http.authentication.kerberos.principal", "*");
    c.set("hadoop.http.authentication.kerberos.keytab", httpKeytab.getPath());
    c.set("dfs.namenode.kerberos.principal", hostPattern("hdfs"));
    c.set("dfs.namenode.keytab.file", hdfsKeytab.getPath());
    c.set("dfs.datanode.kerberos.principal", hostPattern("hdfs"));
    c.set("dfs.datanode.keytab.file", hdfsKeytab.getPath());
    c.set("dfs.web.authentication.kerberos.principal", hostPattern("HTTP"));
    c.set("dfs.web.authentication.kerberos.keytab", httpKeytab.getPath());
    c.setBoolean("dfs.block.access.token.enable", true);
    // SASL on the data transfer port stands in for the privileged ports a secure
    // DataNode would otherwise need (and root to bind them).
    c.set("dfs.data.transfer.protection", settings.protection());
    // With privacy, block data is then encrypted with AES (negotiated after SASL), as
    // production clusters set it, rather than DIGEST-MD5's own 3DES or RC4.
    c.set("dfs.encrypt.data.transfer.cipher.suites", "AES/CTR/NoPadding");
    c.setBoolean("ignore.secure.ports.for.testing", true);
  }

  /**
   * MiniYARNCluster's daemons never log in from a keytab: they run as the user current
   * when they start (see {@link #asYarn}); the keytab keys only complete the picture.
   */
  private void applyYarn(Configuration c) {
    c.set("yarn.resourcemanager.principal", hostPattern("yarn"));
    c.set("yarn.resourcemanager.keytab", yarnKeytab.getPath());
    c.set("yarn.nodemanager.principal", hostPattern("yarn"));
    c.set("yarn.nodemanager.keytab", yarnKeytab.getPath());
    c.set("yarn.resourcemanager.webapp.spnego-principal", hostPattern("HTTP"));
    c.set("yarn.resourcemanager.webapp.spnego-keytab-file", httpKeytab.getPath());
    c.set("yarn.nodemanager.webapp.spnego-principal", hostPattern("HTTP"));
    c.set("yarn.nodemanager.webapp.spnego-keytab-file", httpKeytab.getPath());
    // Containers find the KDC as on a real node (a master logging in from a keytab).
    c.set(
        "yarn.nodemanager.admin-env",
        "MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX,KRB5_CONFIG=" + nodeKrb5Conf);
  }

  /**
   * Gives YARN's web servers (configured from {@code c}) SIMPLE HTTP authentication again:
   * spindle reads live container logs from the NodeManager's REST API without SPNEGO.
   * Their SPNEGO keys stay set for whoever turns it on.
   */
  static void applyYarnWeb(Configuration c) {
    c.set("hadoop.http.authentication.type", "simple");
  }

  /**
   * Short token lifetimes so tests see renewals and rolled keys. The ResourceManager
   * refuses a master key rolling interval that is not above three times the AM (AMRM
   * tokens) or NM (container and NM tokens) liveness expiry, so those expiries come down
   * with it; the NM expiry may not undercut the NM heartbeat.
   */
  private void applyTokenLifetimes(Configuration c) {
    if (settings.tokenRenewS() > 0) {
      long ms = settings.tokenRenewS() * 1000;
      c.setLong("dfs.namenode.delegation.token.renew-interval", ms);
      c.setLong("yarn.resourcemanager.delegation.token.renew-interval", ms);
    }
    if (settings.tokenMaxS() > 0) {
      // No renewal keeps an HDFS delegation token past this: only a fresh one will do.
      c.setLong("dfs.namenode.delegation.token.max-lifetime", settings.tokenMaxS() * 1000);
      // A token is checked when a connection opens, so expiry shows only on new ones.
      // Close connections idle for 10 s (twice this setting), as a busy NameNode does:
      // its idle scan starts past ipc.client.idlethreshold connections, 4000 by default.
      c.setInt("ipc.client.connection.maxidletime", 5_000);
      c.setInt("ipc.client.idlethreshold", 1);
    }
    if (settings.rollS() > 0) {
      long s = settings.rollS();
      c.setLong("yarn.resourcemanager.am-rm-tokens.master-key-rolling-interval-secs", s);
      c.setLong("yarn.resourcemanager.container-tokens.master-key-rolling-interval-secs", s);
      c.setLong("yarn.resourcemanager.nm-tokens.master-key-rolling-interval-secs", s);
      // The longest expiry e with rolling > 2 * (long) (1.5 * e).
      long expiry = Math.min(DEFAULT_EXPIRY_MS, (s * 1000 - 1) / 3);
      c.setLong("yarn.am.liveness-monitor.expiry-interval-ms", expiry);
      c.setLong("yarn.nm.liveness-monitor.expiry-interval-ms", expiry);
    }
  }

  /** Runs {@code action} as hdfs; HDFS daemons started in it keep hdfs as their principal. */
  <T> T asHdfs(PrivilegedExceptionAction<T> action) throws IOException, InterruptedException {
    return hdfs.doAs(action);
  }

  /**
   * Makes yarn this JVM's login user, as the ResourceManager expects (it renews users'
   * HDFS tokens as the login user, and clients name yarn their renewer), then runs
   * {@code action} as yarn.
   */
  <T> T asYarn(PrivilegedExceptionAction<T> action) throws IOException, InterruptedException {
    UserGroupInformation.setLoginUser(yarn);
    return yarn.doAs(action);
  }

  /**
   * What a Kerberos user needs in HDFS: a world-writable {@code /tmp} and YARN log dir
   * (NodeManagers upload logs as the application's user) and home directories for it
   * and for the user it may act as.
   */
  static void prepareHdfs(FileSystem fs, String logDir) throws IOException {
    FsPermission sticky = new FsPermission((short) 01777);
    for (String dir : List.of("/tmp", logDir)) {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(dir);
      fs.mkdirs(p);
      fs.setPermission(p, sticky);
    }
    for (String user : List.of(USER, PROXIED)) {
      org.apache.hadoop.fs.Path home = new org.apache.hadoop.fs.Path("/user/" + user);
      fs.mkdirs(home);
      fs.setOwner(home, user, null);
    }
  }

  /**
   * Writes {@code dir/core-site.xml} with the cluster's security settings, {@code dir}
   * being on this JVM's class path (see scripts/minicluster.sh): daemons build some
   * clients from a fresh {@code Configuration} (the NodeManager's resource localizer
   * fetching a container's files from HDFS with the user's delegation token), and those
   * must ask for the same protection as the servers.
   */
  void writeJvmDefaults(Configuration c, Path dir) throws IOException {
    Configuration defaults = new Configuration(false);
    for (String key : CLIENT_KEYS) {
      defaults.set(key, c.get(key));
    }
    Files.createDirectories(dir);
    Path tmp = dir.resolve("core-site.xml.tmp");
    try (java.io.OutputStream out = Files.newOutputStream(tmp)) {
      defaults.writeXml(out);
    }
    Files.move(
        tmp, dir.resolve("core-site.xml"), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Writes the client's Kerberos files into the conf dir: {@code krb5.conf},
   * {@code user.keytab} and {@code user.principal} (one line, the user's full principal).
   */
  void writeClientFiles(Path confDir) throws IOException {
    writeAtomically(confDir.resolve("krb5.conf"), krb5Conf());
    Path keytab = confDir.resolve("user.keytab");
    Path tmp = confDir.resolve("user.keytab.tmp");
    Files.copy(userKeytab.toPath(), tmp, StandardCopyOption.REPLACE_EXISTING);
    ownerOnly(tmp);
    Files.move(tmp, keytab, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    writeAtomically(confDir.resolve("user.principal"), USER + "@" + realm() + "\n");
  }

  /**
   * A krb5.conf for MIT Kerberos and Java alike (the KDC's own names it by host name and
   * leaves host names to DNS): TCP only, as the KDC serves no UDP, and host names taken
   * as written, so {@code hdfs/localhost} stays {@code hdfs/localhost}.
   */
  private String krb5Conf() {
    String realm = realm();
    return String.join(
        "\n",
        "[libdefaults]",
        "    default_realm = " + realm,
        "    udp_preference_limit = 1",
        "    dns_lookup_kdc = false",
        "    dns_lookup_realm = false",
        "    rdns = false",
        "    dns_canonicalize_hostname = false",
        "    ticket_lifetime = 24h",
        "    forwardable = true",
        "",
        "[realms]",
        "    " + realm + " = {",
        "        kdc = 127.0.0.1:" + kdc.getPort(),
        "    }",
        "",
        "[domain_realm]",
        "    " + HOST + " = " + realm,
        "    127.0.0.1 = " + realm,
        "");
  }

  private static void writeAtomically(Path target, String text) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    Files.writeString(tmp, text);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Keytabs are passwords: readable by their owner only. */
  private static void ownerOnly(Path p) throws IOException {
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
  }
}
