//! Compiles our own `.proto` files (written from the field facts in
//! shared/reference/hadoop-protocol.md) with protox, a pure-Rust protobuf compiler, so
//! building needs no system `protoc`.

const PROTOS: &[&str] = &[
    "proto/RpcHeader.proto",
    "proto/IpcConnectionContext.proto",
    "proto/ProtobufRpcEngine.proto",
    "proto/Security.proto",
    "proto/yarn_protos.proto",
    "proto/yarn_service_protos.proto",
    "proto/hdfs_namenode.proto",
    "proto/hdfs_datatransfer.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
