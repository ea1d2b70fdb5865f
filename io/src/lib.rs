//! Storage and formats for spindle: where bytes live (`file://`, `s3://`, memory, and HDFS
//! next), how inputs split into data-local pieces, how rows are parsed into Arrow and
//! written back out, how task results are encoded for transfer and spill, and the framed,
//! authenticated TCP that carries it all.

pub mod align;
pub mod bind;
pub mod blocks;
pub mod bounded_store;
pub mod buffers;
pub mod channel;
pub mod client_env;
pub mod codec;
pub mod error;
pub mod net;
pub mod open_files;
pub mod read;
pub mod schema;
pub mod spin;
pub mod splits;
pub mod storage;
pub mod tree;
pub mod write;

pub use error::IoError;
pub use storage::Location;
