//! Links PETSc when the cargo feature `petsc` is on (nothing otherwise): libpetsc from
//! `$PETSC_DIR/lib` (default /opt/petsc-mpich, where scripts/setup-petsc.sh installs a PETSc
//! built on MPICH), with an rpath so that programs find it at run time.
// A build script reads cargo's environment (clippy.toml's rule is for the library).
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PETSC_DIR");
    if std::env::var_os("CARGO_FEATURE_PETSC").is_none() {
        return;
    }
    let dir = PathBuf::from(
        std::env::var("PETSC_DIR").unwrap_or_else(|_| "/opt/petsc-mpich".to_string()),
    );
    let lib = dir.join("lib");
    if !lib.join("libpetsc.so").exists() {
        panic!(
            "feature `petsc`: no {}/libpetsc.so. Install PETSc built on MPICH with \
             scripts/setup-petsc.sh (it installs into /opt/petsc-mpich or $PETSC_DIR), or set \
             PETSC_DIR to such an installation.",
            lib.display()
        );
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=petsc");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
