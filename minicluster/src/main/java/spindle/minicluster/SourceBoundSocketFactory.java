package spindle.minicluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import javax.net.SocketFactory;
import org.apache.hadoop.conf.Configurable;
import org.apache.hadoop.conf.Configuration;

/**
 * Sockets that leave from one host's loopback alias. The NameNode records a DataNode's
 * address as the source address of its connection, and every connection on loopback
 * leaves from 127.0.0.1 unless bound; a simulated host's DataNode talks to the NameNode
 * through these so the NameNode sees it at the host's own address, as on a real cluster.
 * Hadoop makes one IPC client per factory that is {@link #equals}, so factories of
 * different hosts never share a connection.
 */
public final class SourceBoundSocketFactory extends SocketFactory implements Configurable {
  /** The address sockets are bound to. */
  static final String ADDRESS_KEY = "spindle.minicluster.source-address";
  /** Where Hadoop looks up the factory for the DataNode-to-NameNode protocol. */
  static final String DATANODE_FACTORY_KEY =
      "hadoop.rpc.socket.factory.class.DatanodeProtocolPB";

  private Configuration conf;
  private InetAddress source;

  @Override
  public void setConf(Configuration c) {
    conf = c;
    try {
      source = InetAddress.getByName(c.get(ADDRESS_KEY, "127.0.0.1"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public Configuration getConf() {
    return conf;
  }

  @Override
  public Socket createSocket() throws IOException {
    // Hadoop's IPC needs a socket with a channel, as the standard factory gives.
    SocketChannel channel = SocketChannel.open();
    channel.bind(new InetSocketAddress(source, 0));
    return channel.socket();
  }

  @Override
  public Socket createSocket(String host, int port) throws IOException {
    return connected(new InetSocketAddress(host, port));
  }

  @Override
  public Socket createSocket(InetAddress host, int port) throws IOException {
    return connected(new InetSocketAddress(host, port));
  }

  @Override
  public Socket createSocket(String host, int port, InetAddress localHost, int localPort)
      throws IOException {
    return connected(new InetSocketAddress(host, port));
  }

  @Override
  public Socket createSocket(InetAddress host, int port, InetAddress localHost, int localPort)
      throws IOException {
    return connected(new InetSocketAddress(host, port));
  }

  private Socket connected(InetSocketAddress to) throws IOException {
    Socket s = createSocket();
    s.connect(to);
    return s;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SourceBoundSocketFactory f && f.source.equals(source);
  }

  @Override
  public int hashCode() {
    return source.hashCode();
  }
}
