//! Write OP2's NACA0012 Airfoil mesh in OP2's ASCII format.
//!
//! ```text
//! cargo run --release --example naca0012 -- new_grid.dat          # OP2's standard 400 x 600
//! cargo run --release --example naca0012 -- small.dat 40 60
//! cc -O3 -o airfoil_ref bench/airfoil_ref.c -lm && ./airfoil_ref new_grid.dat
//! ```
use std::process::ExitCode;

fn run(args: &[String]) -> op2::Result<()> {
    let (path, i, j) = match args {
        [p] => (p, op2::mesh::STANDARD_I, op2::mesh::STANDARD_J),
        [p, i, j] => {
            let size = |s: &str| {
                s.parse::<usize>()
                    .map_err(|_| op2::Error::invalid("naca0012", format!("bad size {s:?}")))
            };
            (p, size(i)?, size(j)?)
        }
        _ => {
            return Err(op2::Error::invalid(
                "naca0012",
                "usage: naca0012 OUTPUT [I J] (default 400 600)",
            ))
        }
    };
    let t = std::time::Instant::now();
    let mesh = op2::mesh::naca0012(i, j)?;
    let generated = t.elapsed();
    mesh.write_op2(path)?;
    println!(
        "{path}: {mesh:?}; generated in {:.2} s, written in {:.2} s",
        generated.as_secs_f64(),
        (t.elapsed() - generated).as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("naca0012: {e}");
            ExitCode::FAILURE
        }
    }
}
