fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto/demo.proto");
    // PROTOC comes from the cargo config written by build.sh (Debian bookworm's protoc)
    tonic_build::configure().compile_protos(&["../proto/demo.proto"], &["../proto"])?;
    Ok(())
}
