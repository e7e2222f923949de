//! Build script: compiles the small C shim that gives Tessera C's `long double` arithmetic and
//! libc's `strtod`/`strtold` parsing (see csrc/longdouble.c for why they cannot be Rust).

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        // Exact IEEE/x87 behaviour is the whole point of the shim: no fast-math style flags.
        .flag_if_supported("-fno-fast-math")
        .warnings(true)
        .compile("tessera_longdouble");
}
