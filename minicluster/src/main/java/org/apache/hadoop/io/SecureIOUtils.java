package org.apache.hadoop.io;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * The minicluster's stand-in for Hadoop's class of this name, which it shadows because the
 * launcher's jar comes first on the class path. With Kerberos on, Hadoop's version checks
 * that a file belongs to the expected user, needs libhadoop to do so and refuses to load
 * without it: a secure NodeManager could then neither aggregate container logs nor serve
 * them. Under the DefaultContainerExecutor every container file belongs to the launcher's
 * own user, so that check could never pass anyway. This version opens files as Hadoop's
 * does with security off, in both modes; the owner arguments are ignored.
 */
public final class SecureIOUtils {
  /** Opened up front: files are also opened from shutdown hooks, too late to create it. */
  private static final FileSystem RAW = rawLocalFileSystem();

  private SecureIOUtils() {}

  private static FileSystem rawLocalFileSystem() {
    try {
      return FileSystem.getLocal(new Configuration()).getRaw();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static RandomAccessFile openForRandomRead(
      File f, String mode, String expectedOwner, String expectedGroup) throws IOException {
    return new RandomAccessFile(f, mode);
  }

  public static FSDataInputStream openFSDataInputStream(
      File file, String expectedOwner, String expectedGroup) throws IOException {
    return RAW.open(new Path(file.getAbsolutePath()));
  }

  public static FileInputStream openForRead(File f, String expectedOwner, String expectedGroup)
      throws IOException {
    return new FileInputStream(f);
  }

  /** Creates {@code f}, which must not exist yet, with the given permission bits. */
  public static FileOutputStream createForWrite(File f, int permissions) throws IOException {
    try {
      Files.createFile(f.toPath());
    } catch (FileAlreadyExistsException e) {
      throw new AlreadyExistsException(e);
    }
    FileOutputStream out = new FileOutputStream(f);
    try {
      RAW.setPermission(new Path(f.getAbsolutePath()), new FsPermission((short) permissions));
    } catch (IOException e) {
      out.close();
      throw e;
    }
    return out;
  }

  /** The file {@link #createForWrite} was to create exists already. */
  public static class AlreadyExistsException extends IOException {
    private static final long serialVersionUID = 1L;

    public AlreadyExistsException(String msg) {
      super(msg);
    }

    public AlreadyExistsException(Throwable cause) {
      super(cause);
    }
  }
}
