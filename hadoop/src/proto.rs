//! Protobuf messages generated at build time from `hadoop/proto/*.proto` (our own files,
//! written from the wire facts). Only the `ipc`, `credentials`, `yarn` and `hdfs` modules should
//! touch these; everything above them works with domain types.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// The generated code refers across packages with `super::`, so the module tree mirrors
/// the protobuf packages `hadoop.common` and `hadoop.yarn`.
pub mod hadoop {
    pub mod common {
        include!(concat!(env!("OUT_DIR"), "/hadoop.common.rs"));
    }
    pub mod yarn {
        include!(concat!(env!("OUT_DIR"), "/hadoop.yarn.rs"));
    }
    pub mod hdfs {
        include!(concat!(env!("OUT_DIR"), "/hadoop.hdfs.rs"));
    }
}

pub use hadoop::{common, hdfs, yarn};
