//! DatViews (PyOP2's `DatView`): one component of a vector Dat, as a Dat of dim 1.
//!
//! Owns the view's identity (its Dat and component) and its validation. A view holds no
//! storage: it names the Dat's own values, so a loop writing a view writes the Dat (whose halo
//! copies then go stale, as for any write), and a loop through a view takes part in the Dat's
//! halo exchanges like the Dat itself. It never generates code: the argument constructors
//! (`DatView::arg`, `arg_map`, `arg_vec`) live with the other arguments in `exec/arg.rs`, and
//! code generation reads the component from the argument's shape.

use crate::data::dat::Dat;
use crate::dtype::{self, Scalar};
use crate::error::{Error, Result};

/// Component `c` of a Dat of dim `d` (PyOP2's `DatView`): a par_loop argument through which
/// the kernel sees one value per element, the Dat's component `c` (READ, WRITE, RW or INC,
/// directly or through a map).
///
/// ```
/// let s = op2::Set::new(2).unwrap();
/// let x = op2::Dat::new(&op2::DataSet::new(&s, 3).unwrap(), vec![0.0f64, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
/// let y = x.view(1).unwrap();
/// assert_eq!(y.to_vec::<f64>().unwrap(), vec![1.0, 4.0]);
/// assert!(x.view(3).is_err()); // dim 3: components 0, 1, 2
/// ```
#[derive(Clone, Debug)]
pub struct DatView {
    pub(crate) dat: Dat,
    pub(crate) component: usize,
}

impl Dat {
    /// The view of component `component` of this Dat (below its dim).
    pub fn view(&self, component: usize) -> Result<DatView> {
        if component >= self.dim() {
            return Err(Error::invalid(
                format!("Dat::view({})", self.name()),
                format!(
                    "component {component} is out of range for dim {}",
                    self.dim()
                ),
            ));
        }
        Ok(DatView {
            dat: self.clone(),
            component,
        })
    }
}

impl DatView {
    /// The Dat viewed.
    pub fn dat(&self) -> &Dat {
        &self.dat
    }
    /// The component viewed.
    pub fn component(&self) -> usize {
        self.component
    }
    /// The component's owned values, one per element (a copy; `T` is the Dat's dtype).
    pub fn to_vec<T: Scalar>(&self) -> Result<Vec<T>> {
        self.dat.check_dtype::<T>("DatView::to_vec")?;
        let (dim, n) = (self.dat.dim(), self.dat.set().size());
        let data = self.dat.lock_read("DatView::to_vec")?;
        let all = dtype::view::<T>(&data, n * dim);
        Ok(all
            .chunks_exact(dim.max(1))
            .map(|e| e[self.component])
            .collect())
    }
}
