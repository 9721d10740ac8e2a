//! Forges a cache pack the way an attacker would, for `scripts/reliability.sh`: the library of
//! entry 0 is replaced by entry 1's (valid code, another kernel: planted), and every size,
//! checksum and the trailer are recomputed, so that only the trust rules and
//! `op2 cache unpack --rebuild` can tell. Usage: `op2-pack-forge IN.op2pack OUT.op2pack`.
use std::process::ExitCode;

fn forge(input: &[u8]) -> Result<Vec<u8>, String> {
    let get = |a: usize, b: usize| input.get(a..b).ok_or("truncated pack");
    let hlen = u64::from_le_bytes(get(12, 20)?.try_into().unwrap()) as usize;
    let mut header: serde_json::Value =
        serde_json::from_slice(get(20, 20 + hlen)?).map_err(|e| e.to_string())?;
    let entries = header["entries"].as_array_mut().ok_or("no entries")?;
    if entries.len() < 2 {
        return Err("the pack needs two entries".into());
    }
    let mut at = 20 + hlen;
    let mut blobs = Vec::new();
    for e in entries.iter() {
        let n = e["len"].as_u64().ok_or("no len")? as usize;
        blobs.push(get(at, at + n)?.to_vec());
        at += n;
    }
    blobs[0] = blobs[1].clone();
    for (e, b) in entries.iter_mut().zip(&blobs) {
        e["len"] = (b.len() as u64).into();
        e["meta"]["size"] = (b.len() as u64).into();
        e["meta"]["checksum"] = xxhash_rust::xxh3::xxh3_64(b).into();
    }
    let h = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let mut out = get(0, 12)?.to_vec();
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for b in &blobs {
        out.extend_from_slice(b);
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: op2-pack-forge IN.op2pack OUT.op2pack");
        return ExitCode::from(2);
    }
    let forged = std::fs::read(&args[1])
        .map_err(|e| format!("{}: {e}", args[1]))
        .and_then(|b| forge(&b))
        .and_then(|f| std::fs::write(&args[2], f).map_err(|e| format!("{}: {e}", args[2])));
    match forged {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("op2-pack-forge: {e}");
            ExitCode::from(1)
        }
    }
}
