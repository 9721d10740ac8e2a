//! A small MPI example: every rank initialises op2, builds its part of a set, data and a
//! global sum, reduces across ranks, finalises, and says so. The integration tests of the
//! runtime lifecycle run it under `mpiexec -n 4`.
use std::process::ExitCode;

fn work(rt: &op2::Runtime) -> op2::Result<()> {
    let comm = rt.comm();
    let n = 1000 + comm.rank() as usize;
    let cells = op2::Set::named("cells", n)?;
    let ds = op2::DataSet::new(&cells, 2)?;
    assert!(ds.ptr_eq(&op2::DataSet::new(&cells, 2)?));
    let vals: Vec<f64> = (0..2 * n).map(|i| i as f64).collect();
    let dat = op2::Dat::named("x", &ds, vals)?;
    let local: f64 = dat.to_vec::<f64>()?.iter().sum();
    let global = comm.allreduce(&[local], op2::ReduceOp::Sum)?[0];
    println!(
        "rank {} of {}: initialised; {} cells (global {}); local sum {local}; global sum {global}",
        comm.rank(),
        comm.size(),
        cells.size(),
        cells.global_size()
    );
    Ok(())
}

fn main() -> ExitCode {
    let rt = match op2::Config::from_env().and_then(op2::init) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hello: {e}");
            return ExitCode::from(2);
        }
    };
    let rank = rt.rank();
    if let Err(e) = work(&rt) {
        eprintln!("hello: rank {rank}: {e}");
        rt.abort(1);
    }
    match rt.finalize() {
        Ok(()) => {
            println!("rank {rank}: finalised");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hello: rank {rank}: finalize: {e}");
            ExitCode::FAILURE
        }
    }
}
