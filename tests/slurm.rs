//! The batch scripts of cluster-configs/ submitted to a real Slurm: a one-node cluster on this
//! machine (scripts/slurm-local.sh: slurm-wlm + munge, slurmctld + slurmd, a partition with this
//! machine's cores), `sbatch --wait` of each script with small parameters, their output and
//! files checked, the cluster shut down at the end (also when a check fails).
//!
//! Needs root (it installs slurm-wlm and munge with apt when missing and starts daemons), and
//! the scaling bench built (`cargo bench --bench scaling --no-run`, which scripts/test.sh does).
//! #[ignore]d because it takes minutes; CI runs it with --include-ignored. The Airfoil job runs
//! 100 iterations of the standard mesh (OP2's published rms at 100 checked);
//! `OP2_SLURM_TEST_FULL=1` runs OP2's whole benchmark (1000 iterations, the PASSED line).
//!
//! The PBS scripts cannot be tested against a real PBS here (no PBS server in Debian's
//! archive); `pbs_scripts_outside_a_scheduler` runs them as plain bash with a PBS_NODEFILE
//! instead, and checks their dry-run output.
// A test or benchmark program: it reads and sets the environment of the op2 it runs
// (clippy.toml keeps that out of the library).
#![allow(clippy::disallowed_methods)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The test cluster's own directory (fixed, so a run after a crashed one cleans up first).
const SLURM_DIR: &str = "/tmp/op2-slurm-test";
const PORT: &str = "6917";

fn slurm_local(what: &str) -> common::Outcome {
    let mut c = Command::new("bash");
    c.arg(format!("{ROOT}/scripts/slurm-local.sh"))
        .arg(what)
        .env("OP2_SLURM_DIR", SLURM_DIR)
        .env("OP2_SLURM_PORT", PORT);
    common::run(c, Duration::from_secs(900))
}

/// Stops the cluster when the test ends, passed or failed.
struct Cluster;

impl Drop for Cluster {
    fn drop(&mut self) {
        let o = slurm_local("down");
        eprintln!("{}{}", o.stdout, o.stderr);
    }
}

/// A finished batch job.
struct Job {
    id: String,
    /// Slurm's final JobState (COMPLETED, FAILED, ...) and ExitCode.
    state: String,
    exit: String,
    /// The job's output file.
    log: String,
}

/// `sbatch` one script of cluster-configs/ on `ntasks` tasks with `env`, then wait for it
/// (polling `scontrol` every half second: `sbatch --wait` polls with a growing interval and
/// would add tens of seconds per job).
fn sbatch(script: &str, ntasks: usize, out_dir: &Path, env: &[(&str, String)]) -> Job {
    // Slurm opens the output file before the script runs: its folder must exist.
    std::fs::create_dir_all(out_dir).unwrap();
    let log = out_dir.join(format!("{script}.out"));
    let conf = format!("{SLURM_DIR}/slurm.conf");
    let mut c = Command::new("sbatch");
    c.args(["--parsable", "--nodes=1"])
        .arg(format!("--ntasks={ntasks}"))
        .arg(format!("--ntasks-per-node={ntasks}"))
        .arg(format!("--output={}", log.display()))
        .arg("--time=00:15:00")
        .arg(format!("{ROOT}/cluster-configs/{script}"))
        .current_dir(ROOT)
        .env("SLURM_CONF", &conf)
        .env("OP2_ROOT", ROOT)
        .env("OUT_DIR", out_dir);
    for v in [
        "OP2_CACHE_REPORT",
        "OP2_PRINT_CACHE_SIZE",
        "OP2_CACHE_DIR",
        "PYOP2_CACHE_DIR",
    ] {
        c.env_remove(v);
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    let o = common::run(c, Duration::from_secs(60));
    o.assert_ok();
    let id = o.stdout.trim().split(';').next().unwrap().to_string();
    let t0 = std::time::Instant::now();
    let (state, exit) = loop {
        let mut q = Command::new("scontrol");
        q.args(["show", "job", "-o", &id]).env("SLURM_CONF", &conf);
        let line = common::run(q, Duration::from_secs(30))
            .assert_ok()
            .stdout
            .clone();
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or("")
                .to_string()
        };
        let state = field("JobState=");
        if !["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", ""].contains(&state.as_str()) {
            break (state, field("ExitCode="));
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "job {id} ({script}) still {state} after 900 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "slurm test: {script} job {id}: {state} (exit {exit}) after {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    Job {
        id,
        state,
        exit,
        log,
    }
}

/// The id of a job that must have completed successfully.
fn job_ok(j: &Job) -> String {
    assert_eq!(
        j.state, "COMPLETED",
        "job {} ended {} (exit {})\n--- job output\n{}",
        j.id, j.state, j.exit, j.log
    );
    j.id.clone()
}

fn report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cache report {}: {e}", path.display()));
    serde_json::from_str(&text).expect("cache report is JSON")
}

fn scaling_bin() -> PathBuf {
    let deps = Path::new(ROOT).join("target/release/deps");
    std::fs::read_dir(&deps)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("scaling-") && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("the scaling bench is not built: run cargo bench --bench scaling --no-run")
}

#[test]
#[ignore = "slow: starts a Slurm cluster (root, minutes); scripts/test.sh runs it"]
fn slurm_batch_scripts() {
    let bench = scaling_bin();
    let up = slurm_local("up");
    let _cluster = Cluster;
    up.assert_ok();
    let np = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    let tmp = tempfile::tempdir().unwrap();

    // 1. Airfoil with srun (--mpi=pmi2), warm-up on one rank, then the standard mesh: OP2's
    //    published rms at iteration 100 (with OP2_SLURM_TEST_FULL=1, all 1000 iterations and
    //    the PASSED line), every rank's cache table, the JSON report, and no compile in the big
    //    run (the warm-up compiled every kernel).
    let full = std::env::var("OP2_SLURM_TEST_FULL").is_ok_and(|v| v == "1");
    let out = tmp.path().join("srun");
    let cache = tmp.path().join("cache-shared");
    let job = sbatch(
        "slurm-airfoil.sh",
        np,
        &out,
        &[
            ("OP2_CACHE_DIR", cache.display().to_string()),
            ("LAUNCHER", "srun".into()),
            (
                "AIRFOIL_ARGS",
                format!("--iters {}", if full { 1000 } else { 100 }),
            ),
        ],
    );
    let (id, log) = (job_ok(&job), &job.log);
    // OP2's residual at iteration 100 on this mesh (as tests/airfoil.rs checks).
    assert!(log.contains(" 100  5.02186e-04 "), "{log}");
    if full {
        assert!(log.contains("This test is considered PASSED"), "{log}");
    }
    assert!(log.contains(&format!(" on {np} rank(s)")), "{log}");
    assert!(
        log.contains(&format!("op2 cache report ({np} ranks")),
        "{log}"
    );
    let r = report(&out.join(format!("op2-cache-{id}.json")));
    assert_eq!(r["ranks"], np);
    assert_eq!(
        r["caches"]["disk"]["compiles"]["sum"], 0.0,
        "the warm-up left kernels to compile: {r}"
    );
    assert_eq!(r["caches"]["disk"]["hits"]["sum"], 5.0, "{r}");

    // 2. Airfoil with mpiexec (hydra inside the allocation), no warm-up, a fresh cache: the
    //    report counts each of the five kernels compiled exactly once.
    let out = tmp.path().join("mpiexec");
    let job = sbatch(
        "slurm-airfoil.sh",
        np,
        &out,
        &[
            (
                "OP2_CACHE_DIR",
                tmp.path().join("cache-fresh").display().to_string(),
            ),
            ("LAUNCHER", "mpiexec".into()),
            ("WARMUP", "none".into()),
            ("AIRFOIL_ARGS", "--i 40 --j 60 --iters 100".into()),
        ],
    );
    let (id, log) = (job_ok(&job), &job.log);
    assert!(log.contains(&format!(" on {np} rank(s)")), "{log}");
    assert!(log.contains(" 100 "), "no rms line at iteration 100: {log}");
    let r = report(&out.join(format!("op2-cache-{id}.json")));
    assert_eq!(r["caches"]["disk"]["compiles"]["sum"], 5.0, "{r}");

    // 3. A broken launch fails the job: srun with --mpi=none starts separate 1-rank programs
    //    under MPICH, which the scripts' rank-count check catches. Needs 2+ tasks.
    if np > 1 {
        let out = tmp.path().join("bad");
        let job = sbatch(
            "slurm-airfoil.sh",
            np,
            &out,
            &[
                ("OP2_CACHE_DIR", cache.display().to_string()),
                ("SRUN_MPI", "none".into()),
                ("AIRFOIL_ARGS", "--i 20 --j 30 --iters 10".into()),
            ],
        );
        let log = &job.log;
        assert_eq!(
            job.state, "FAILED",
            "a job of separate 1-rank programs: {log}"
        );
        assert!(log.contains(" on 1 rank(s)"), "{log}");
        assert!(
            log.contains(&format!("did not run as one job of {np} ranks")),
            "{log}"
        );
    }

    // 4. The scaling study in quick form under srun: a results file with every section.
    let out = tmp.path().join("scaling");
    let job = sbatch(
        "slurm-scaling.sh",
        np,
        &out,
        &[
            ("OP2_CACHE_DIR", cache.display().to_string()),
            ("SCALING_BIN", bench.display().to_string()),
            ("BENCH_ARGS", "--quick --repeat 1".into()),
        ],
    );
    let (id, log) = (job_ok(&job), &job.log);
    assert!(log.contains("op2-job: results file written"), "{log}");
    let file = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|e| e == "json") && p.to_string_lossy().contains("scaling-")
        })
        .expect("a scaling results file");
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(res["machine"]["slurm_job_id"], id.as_str());
    assert_eq!(res["options"]["launcher"], "srun --mpi=pmi2 -n %n");
    let ranks: Vec<u64> = res["strong"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ranks"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = if np > 1 { vec![1, np as u64] } else { vec![1] };
    assert_eq!(ranks, want);
    for s in res["strong"].as_array().unwrap() {
        assert!(
            s["seconds_per_iteration"]["median"].as_f64().unwrap() > 0.0,
            "{s}"
        );
    }
    for s in res["startup"].as_array().unwrap() {
        assert_eq!(s["compiles_per_kernel_cold"]["median"], 1.0, "{s}");
        assert_eq!(s["compiles_per_kernel_warm"]["median"], 0.0, "{s}");
    }
}

/// The PBS scripts, which no PBS here can run: as plain bash with a PBS_NODEFILE (the body of
/// the job runs for real under mpiexec -f), and in dry-run mode (commands printed).
#[test]
#[ignore = "slow: runs Airfoil jobs (a minute); scripts/test.sh runs it"]
fn pbs_scripts_outside_a_scheduler() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes = tmp.path().join("nodes");
    std::fs::write(&nodes, "localhost\nlocalhost\n").unwrap();
    let run = |script: &str, env: &[(&str, &str)]| {
        let mut c = Command::new("bash");
        c.arg(format!("{ROOT}/cluster-configs/{script}"))
            .current_dir(ROOT)
            .env("PBS_NODEFILE", &nodes)
            .env("PBS_JOBID", "42.pbs-server")
            .env("OP2_ROOT", ROOT)
            .env("OUT_DIR", tmp.path().join("out"))
            .env("OP2_CACHE_DIR", tmp.path().join("cache"));
        for v in [
            "OP2_CACHE_REPORT",
            "OP2_PRINT_CACHE_SIZE",
            "SLURM_JOB_ID",
            "SLURM_NTASKS",
        ] {
            c.env_remove(v);
        }
        c.envs(env.iter().copied());
        common::run(c, Duration::from_secs(600))
    };
    let o = run(
        "pbs-airfoil.sh",
        &[("AIRFOIL_ARGS", "--i 40 --j 60 --iters 100")],
    );
    o.assert_ok();
    assert!(
        o.stdout
            .contains(&format!("mpiexec -f {} -n 2", nodes.display())),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains(" on 2 rank(s)"), "{}", o.stdout);
    let r = report(&tmp.path().join("out/op2-cache-42.json"));
    assert_eq!(r["ranks"], 2);
    assert_eq!(
        r["caches"]["disk"]["compiles"]["sum"], 0.0,
        "warm-up compiled everything: {r}"
    );

    let o = run("pbs-scaling.sh", &[("DRY_RUN", "1")]);
    o.assert_ok();
    assert!(
        o.stdout.contains("--ranks 1,2 --launcher mpiexec -f"),
        "{}",
        o.stdout
    );
    for script in [
        "slurm-airfoil.sh",
        "slurm-scaling.sh",
        "pbs-airfoil.sh",
        "pbs-scaling.sh",
        "lib.sh",
    ] {
        let mut c = Command::new("bash");
        c.arg("-n").arg(format!("{ROOT}/cluster-configs/{script}"));
        common::run(c, Duration::from_secs(30)).assert_ok();
    }
}
