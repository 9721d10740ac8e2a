//! Kernels, access modes, par_loop arguments and `par_loop` itself, as PyOP2 spells them.
//!
//! Owns the hot path from Python: `par_loop(kernel, set, *args)` borrows the arguments' op2
//! handles and calls op2's `par_loop` (whose dispatch table finds a repeated loop without
//! validation or cache lookups). The GIL stays held during the loop, so no Python code can
//! touch a numpy view of a Dat while op2's threads run. Never compiles anything itself.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::{raise, to_py};
use crate::extruded::PyExtrudedSet;
use crate::sets::PySet;

/// How a kernel uses an argument (PyOP2's `READ`, `WRITE`, `RW`, `INC`, `MIN`, `MAX`).
#[pyclass(module = "op2._op2", name = "Access", frozen)]
pub(crate) struct PyAccess {
    pub(crate) mode: op2::Access,
    name: &'static str,
}

#[pymethods]
impl PyAccess {
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }
    fn __repr__(&self) -> String {
        format!("Access('{}')", self.name)
    }
    fn __str__(&self) -> String {
        format!("OP2 Access: {}", self.name)
    }
}

/// One argument of a par_loop (made by calling a Dat, Global or Mat with an access).
#[pyclass(module = "op2._op2", name = "Arg", frozen)]
pub(crate) struct PyArg {
    pub(crate) arg: op2::Arg,
    /// The set the loop must iterate over (a Dat's set, a map's source), None for Globals.
    pub(crate) from_set: Option<op2::Set>,
    /// Through an extruded map (`extruded.rs`): the argument of a loop over its ExtrudedSet.
    pub(crate) xarg: Option<op2::XArg>,
}

/// A C kernel (PyOP2's `Kernel(code, name)`; `static void` kernels included).
#[pyclass(module = "op2._op2", name = "Kernel", subclass, frozen)]
pub(crate) struct PyKernel {
    /// op2's kernel, or why op2 refused the code: PyOP2 accepts any string at construction
    /// and fails at the loop, after checking the arguments, so the refusal waits for it.
    pub(crate) kernel: Result<op2::Kernel, String>,
    name: String,
    code: String,
}

#[pymethods]
impl PyKernel {
    #[new]
    #[pyo3(signature = (code, name, opts=None, include_dirs=None, ldargs=None, cpp=false, flop_count=None, headers=None, user_code=None, requires_zeroed_output_arguments=None, events=None, accesses=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        code: &Bound<'_, PyAny>,
        name: &Bound<'_, PyAny>,
        opts: Option<&Bound<'_, PyAny>>,
        include_dirs: Option<Vec<String>>,
        ldargs: Option<&Bound<'_, PyAny>>,
        cpp: bool,
        flop_count: Option<&Bound<'_, PyAny>>,
        headers: Option<Vec<String>>,
        user_code: Option<String>,
        requires_zeroed_output_arguments: Option<&Bound<'_, PyAny>>,
        events: Option<&Bound<'_, PyAny>>,
        accesses: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let _ = (
            opts,
            ldargs,
            flop_count,
            requires_zeroed_output_arguments,
            events,
            accesses,
        );
        if cpp {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "Kernel(cpp=True): op2 compiles kernels as C with the system C compiler; C++ kernels are not supported",
            ));
        }
        let code: String = code.extract().map_err(|_| {
            pyo3::exceptions::PyNotImplementedError::new_err(format!(
                "Kernel code must be a C string; loopy kernels need the `loopy` package and are not supported yet (got {})",
                code.get_type()
            ))
        })?;
        let name: String = name.extract().map_err(|_| {
            raise(
                "NameTypeError",
                format!("kernel name must be a string, not {name}"),
            )
        })?;
        let mut src = String::new();
        for h in headers.unwrap_or_default() {
            src.push_str(&h);
            src.push('\n');
        }
        if let Some(u) = user_code {
            src.push_str(&u);
            src.push('\n');
        }
        // PyOP2's generated code includes PETSc's headers; op2's values are doubles.
        if ["PetscScalar", "PetscInt", "PetscReal"]
            .iter()
            .any(|t| code.contains(t))
            && !code.contains("petsc")
        {
            src.push_str("typedef double PetscScalar;\ntypedef double PetscReal;\ntypedef int32_t PetscInt;\n");
        }
        src.push_str(&code);
        let flags: Vec<String> = include_dirs
            .unwrap_or_default()
            .into_iter()
            .map(|d| format!("-I{d}"))
            .collect();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let kernel = op2::Kernel::with_flags(&name, &src, &flags).map_err(|e| e.to_string());
        Ok(PyKernel {
            kernel,
            name,
            code: code.clone(),
        })
    }
    /// This kernel with `extra` appended to its source (headers and flags kept), as kernel
    /// `name`: `op2/_packing.py`'s MixedDat packing shim.
    fn _with_code(&self, extra: &str, name: String) -> PyKernel {
        let kernel = match &self.kernel {
            Ok(k) => {
                let flags: Vec<&str> = k.flags().iter().map(String::as_str).collect();
                let src = format!("{}\n{extra}", k.code());
                op2::Kernel::with_flags(&name, &src, &flags).map_err(|e| e.to_string())
            }
            Err(r) => Err(r.clone()),
        };
        PyKernel {
            kernel,
            name,
            code: self.code.clone(),
        }
    }
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
    #[getter]
    fn code(&self) -> String {
        self.code.clone()
    }
    fn __repr__(&self) -> String {
        format!("Kernel(\"\"\"{}\"\"\", '{}')", self.code, self.name)
    }
    fn __str__(&self) -> String {
        format!("OP2 Kernel: {}", self.name)
    }
}

/// Run `kernel` over every owned element of `iterset` with `args` (collective on a distributed
/// set). PyOP2's keyword arguments (`iteration_region`, `pass_layer_arg`) apply to an
/// ExtrudedSet (`extruded.rs`).
#[pyfunction]
#[pyo3(signature = (kernel, iterset, *args, **kwargs))]
fn par_loop(
    kernel: &Bound<'_, PyAny>,
    iterset: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<()> {
    // A MixedDat argument: PyOP2 packs its blocks into one array (the kernel that does so is
    // `op2/_packing.py`'s shim). Plain arguments, the hot path, skip this.
    let packed;
    let kernel = if args.iter().any(|a| !a.is_instance_of::<PyArg>()) {
        packed =
            (kernel.py().import("op2._packing")?).call_method1("packed_kernel", (kernel, args))?;
        &packed
    } else {
        kernel
    };
    let kernel = kernel.downcast::<PyKernel>().map_err(|_| {
        raise(
            "KernelTypeError",
            format!("par_loop runs a Kernel, not {kernel}"),
        )
    })?;
    let (list, pyargs) = expand(args)?;
    let refused = |refused: &String| {
        // The arguments' sets first, as PyOP2 checks them before the kernel.
        check_sets(&arg_set(iterset)?, &pyargs)?;
        Err(raise("Op2ValueError", refused.clone()))
    };
    // A plain Set (or Subset) first: the hot path.
    if let Ok(set) = iterset.downcast::<PySet>() {
        if kwargs.is_some_and(|k| !k.is_empty()) {
            return Err(raise(
                "Op2ValueError",
                "par_loop keyword arguments (iteration_region, pass_layer_arg) apply to loops over an ExtrudedSet",
            ));
        }
        if pyargs.iter().any(|a| a.get().xarg.is_some()) {
            return Err(crate::extruded::needs_extruded_loop(&set.get().set));
        }
        return match &kernel.get().kernel {
            Ok(k) => op2::par_loop(k, &set.get().set, &list).map_err(to_py),
            Err(r) => refused(r),
        };
    }
    match (iterset.downcast::<PyExtrudedSet>(), &kernel.get().kernel) {
        (Ok(x), Ok(k)) => crate::extruded::par_loop(k, x.get(), &pyargs, kwargs),
        (_, Err(r)) => refused(r),
        (Err(_), Ok(_)) => Err(raise(
            "SetTypeError",
            format!("par_loop iterates over a Set, not {iterset}"),
        )),
    }
}

/// The op2 arguments of `args` (a MixedDat's argument, `op2/_packing.py`, gives its blocks'
/// arguments in order), with their Python objects.
#[allow(clippy::type_complexity)]
fn expand<'py>(args: &Bound<'py, PyTuple>) -> PyResult<(Vec<op2::Arg>, Vec<Bound<'py, PyArg>>)> {
    let mut list: Vec<op2::Arg> = Vec::with_capacity(args.len());
    let mut pyargs: Vec<Bound<'py, PyArg>> = Vec::with_capacity(args.len());
    for a in args.iter() {
        match a.downcast_into::<PyArg>() {
            Ok(a) => {
                list.push(a.get().arg.clone());
                pyargs.push(a);
            }
            Err(e) => {
                let a = e.into_inner();
                let Ok(blocks) = a.getattr("_args") else {
                    return Err(raise("Op2ValueError", format!("par_loop argument {a} is not an argument (call a Dat, Global or Mat with an access)")));
                };
                for b in blocks.try_iter()? {
                    let b = b?.downcast_into::<PyArg>()?;
                    list.push(b.get().arg.clone());
                    pyargs.push(b);
                }
            }
        }
    }
    Ok((list, pyargs))
}

/// The set whose Dats and Maps a loop over `iterset` takes: the set itself, a Subset's
/// superset, an ExtrudedSet's base.
fn arg_set(iterset: &Bound<'_, PyAny>) -> PyResult<op2::Set> {
    if let Ok(x) = iterset.downcast::<PyExtrudedSet>() {
        return Ok(x.get().xset.base().clone());
    }
    let set = iterset.downcast::<PySet>().map_err(|_| {
        raise(
            "SetTypeError",
            format!("par_loop iterates over a Set, not {iterset}"),
        )
    })?;
    let set = &set.get().set;
    Ok(set.superset().unwrap_or(set).clone())
}

/// PyOP2's check that every argument is on the loop's set (MapValueError naming the first
/// that is not).
fn check_sets(over: &op2::Set, pyargs: &[Bound<'_, PyArg>]) -> PyResult<()> {
    for (i, a) in pyargs.iter().enumerate() {
        if let Some(from) = &a.get().from_set {
            if !from.ptr_eq(over) {
                return Err(raise(
                    "MapValueError",
                    format!(
                        "par_loop argument {i} is on set {}, not the iteration set {}",
                        from.name(),
                        over.name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// PyOP2's `ParLoop(kernel, iterset, *args)` checks at construction: the iteration set and
/// the arguments' sets (the loop itself runs later, through `par_loop`).
#[pyfunction]
#[pyo3(signature = (iterset, *args))]
fn check_args(iterset: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let (_, pyargs) = expand(args)?;
    check_sets(&arg_set(iterset)?, &pyargs)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAccess>()?;
    m.add_class::<PyArg>()?;
    m.add_class::<PyKernel>()?;
    m.add_function(wrap_pyfunction!(par_loop, m)?)?;
    m.add_function(wrap_pyfunction!(check_args, m)?)?;
    for (name, mode) in [
        ("READ", op2::Access::Read),
        ("WRITE", op2::Access::Write),
        ("RW", op2::Access::RW),
        ("INC", op2::Access::Inc),
        ("MIN", op2::Access::Min),
        ("MAX", op2::Access::Max),
    ] {
        m.add(name, PyAccess { mode, name })?;
    }
    Ok(())
}
