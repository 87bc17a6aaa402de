//! Compiles the one C file shardis has: `csrc/longdouble.c`, the `long double`
//! arithmetic of INCRBYFLOAT/HINCRBYFLOAT (see `src/util/longdouble.rs`).
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new().file("csrc/longdouble.c").warnings(true).compile("shardis_longdouble");
}
