//! Compiles every .proto under proto/konsul into OUT_DIR with tonic-prost-build, using the
//! vendored protoc so that no system protoc is needed, and writes one descriptor set that the
//! server hands to tonic-reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: build scripts are single-threaded; nothing else reads the environment here.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let files = [
        "konsul/v1/common.proto",
        "konsul/v1/kv.proto",
        "konsul/v1/catalog.proto",
        "konsul/v1/cluster.proto",
        "konsul/raft/v1/command.proto",
        "konsul/raft/v1/raft.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    tonic_prost_build::configure()
        // Replicated maps are ordered, so a command encodes to the same bytes on every node
        // and every run (a HashMap would iterate in a random order).
        .btree_map(".konsul.raft.v1.CatalogService.meta")
        .btree_map(".konsul.v1.Service.meta")
        .btree_map(".konsul.v1.QueryMetadataRequest.meta")
        .btree_map(".konsul.v1.QueryRequest.meta")
        .file_descriptor_set_path(out.join("konsul_descriptor.bin"))
        .compile_protos(&files, &["."])?;
    Ok(())
}
