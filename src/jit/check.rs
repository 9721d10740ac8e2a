//! Kernel checks: turning the compiler's verdict on the typed kernel call into an error that
//! names the kernel, the argument and the C type the calling convention expects.
//!
//! `codegen` calls the kernel after the user's code with every argument cast to its
//! convention type, one argument per line, and `compile` adds flags that make a mismatch an
//! error. This module reads the compiler's messages (`file:line:col: error: ...`, GCC and
//! clang alike), maps the line back to the argument, and reads the kernel's own parameter list
//! from its source for the message. Unrecognised failures stay `Error::Compile`.

use std::path::PathBuf;

use crate::error::Error;
use crate::jit::codegen::generate_mapped;
use crate::jit::kernel::Kernel;
use crate::jit::shape::ArgShape;

/// The error for a failed compilation of `kernel` with `shapes`: `Error::KernelMismatch` when
/// the compiler rejected the call of the kernel (mapped to the argument), else
/// `Error::Compile` with the compiler's output.
pub(crate) fn explain(
    kernel: &Kernel,
    shapes: &[ArgShape],
    command: String,
    stderr: String,
    source_path: PathBuf,
) -> Error {
    match diagnose(kernel, shapes, &stderr) {
        Some(detail) => Error::KernelMismatch {
            kernel: kernel.name().to_string(),
            detail,
            source_path,
        },
        None => Error::Compile {
            kernel: kernel.name().to_string(),
            command,
            stderr,
            source_path,
        },
    }
}

/// Print the compiler's warnings for `kernel` (the caller is the one rank that compiles, so
/// they appear once per job) and return the text to keep beside the cache entry; `None` when
/// the compiler printed nothing.
pub(crate) fn show_warnings(kernel: &str, text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    eprintln!("op2: compiler warnings for kernel `{kernel}`:\n{t}");
    Some(format!("kernel {kernel}\n{t}\n"))
}

/// `(line, severity, message)` of a compiler diagnostic line `path:line[:col]: sev: msg`.
fn parse_diag(l: &str) -> Option<(usize, &str, &str)> {
    let (_, rest) = l.split_once(".c:")?;
    let (line, rest) = rest.split_once(':')?;
    let line: usize = line.trim().parse().ok()?;
    let rest = match rest.split_once(':') {
        Some((col, r)) if col.trim().parse::<usize>().is_ok() => r,
        _ => rest,
    };
    let (sev, msg) = rest.trim_start().split_once(':')?;
    Some((line, sev.trim(), msg.trim()))
}

fn diagnose(kernel: &Kernel, shapes: &[ArgShape], stderr: &str) -> Option<String> {
    let (_, lines) = generate_mapped(kernel, shapes);
    let name = kernel.name();
    let params = kernel.params();
    let expected = || {
        shapes
            .iter()
            .enumerate()
            .map(|(i, a)| format!("  argument {i}: {} ({})", a.c_param(), a.pointee()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let all: Vec<&str> = stderr.lines().collect();
    let mut found: Vec<String> = Vec::new();
    for (n, l) in all.iter().enumerate() {
        // Link errors name the symbol: `undefined reference to `k'`.
        if let Some(rest) = l.split_once("undefined reference to `").map(|x| x.1) {
            let sym = rest.split('\'').next().unwrap_or(rest);
            found.push(if sym == name {
                format!("`{name}` is declared in the kernel's code but never defined")
            } else {
                format!("the kernel's code calls `{sym}`, which is defined nowhere (a missing function, or a library to link with Kernel::with_flags)")
            });
            continue;
        }
        let Some((line, sev, msg)) = parse_diag(l) else {
            continue;
        };
        if sev != "error" {
            continue;
        }
        if msg.contains("implicit declaration of function") && msg.contains(&format!("'{name}'")) {
            let defined = kernel.defined_functions();
            found.push(format!(
                "the code defines no C function named `{name}` (the name given to Kernel::new(name, code)){}",
                if defined.is_empty() {
                    String::new()
                } else {
                    format!("; it defines: {}", defined.join(", "))
                }
            ));
        } else if msg.contains("too many arguments") || msg.contains("too few arguments") {
            found.push(format!(
                "the loop passes {} argument(s), the kernel declares {}:\n{}\n  compiler: {msg}",
                shapes.len(),
                params
                    .as_ref()
                    .map(|p| format!("{} parameter(s) ({})", p.len(), p.join(", ")))
                    .unwrap_or_else(|| "a different number".into()),
                expected()
            ));
        } else if let Some(i) = lines.args.iter().position(|&a| a == line) {
            let declared = params
                .as_ref()
                .and_then(|p| p.get(i))
                .map(|p| format!("the kernel declares `{p}`"))
                .unwrap_or_else(|| "the kernel's parameter does not accept it".into());
            // The compiler's note on the same argument, if any (gcc: "expected 'T' but ...").
            let note = all[n + 1..]
                .iter()
                .take_while(|x| parse_diag(x).is_none_or(|(_, sev, _)| sev == "note"))
                .find(|x| x.contains("note: expected"))
                .map(|x| {
                    format!(
                        "\n  compiler: {}",
                        x.split_once("note:").map_or(*x, |y| y.1.trim())
                    )
                })
                .unwrap_or_default();
            found.push(format!(
                "argument {i}: op2 passes `{}` ({}), but {declared}\n  compiler: {msg}{note}",
                shapes[i].c_param(),
                shapes[i].pointee()
            ));
        } else if line == lines.call {
            found.push(format!("{msg}\nexpected parameters:\n{}", expected()));
        }
    }
    if found.is_empty() {
        return None;
    }
    found.dedup();
    Some(found.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gcc_and_clang_locations() {
        assert_eq!(
            parse_diag(
                "/tmp/x/ab.c:12:7: error: passing argument 2 of 'k' from incompatible pointer type"
            ),
            Some((
                12,
                "error",
                "passing argument 2 of 'k' from incompatible pointer type"
            ))
        );
        assert_eq!(parse_diag("f.c:3: warning: x"), Some((3, "warning", "x")));
        assert_eq!(
            parse_diag("collect2: error: ld returned 1 exit status"),
            None
        );
    }
}
