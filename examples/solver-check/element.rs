//! The element kernels shared by op2-solver-check and op2-petsc-check: P1 stiffness plus mass
//! on a triangle (`stiff_mass`, SPD), its 2x2-block version (`stiff_mass_blk`) and a
//! non-symmetric one (`stiff_mass_ns`).

/// C source of `stiff_mass`, `stiff_mass_blk` and `stiff_mass_ns` (arguments: the 3x3 or 6x6 element matrix,
/// the triangle's 3 vertices as x0 y0 x1 y1 x2 y2).
pub const ELEMENT: &str = r#"
#include <math.h>
void stiff_mass(double *A, const double *x)
{
  double det = (x[2] - x[0]) * (x[5] - x[1]) - (x[4] - x[0]) * (x[3] - x[1]);
  double b[3] = {x[3] - x[5], x[5] - x[1], x[1] - x[3]};
  double c[3] = {x[4] - x[2], x[0] - x[4], x[2] - x[0]};
  double area = 0.5 * fabs(det);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      A[3 * i + j] = (b[i] * b[j] + c[i] * c[j]) / (4.0 * area) + area / 12.0 * (i == j ? 2.0 : 1.0);
}
/* 2x2 blocks: the element matrix times [[2, 0.5], [0.5, 1]] (Kronecker product, SPD). */
void stiff_mass_blk(double *A, const double *x)
{
  double E[9];
  const double B[4] = {2.0, 0.5, 0.5, 1.0};
  stiff_mass(E, x);
  for (int i = 0; i < 3; i++)
    for (int r = 0; r < 2; r++)
      for (int j = 0; j < 3; j++)
        for (int c = 0; c < 2; c++)
          A[(2 * i + r) * 6 + 2 * j + c] = E[3 * i + j] * B[2 * r + c];
}

/* Not symmetric: row i, column j of the element matrix scaled by 1 + i + j^2 / 2. */
void stiff_mass_ns(double *A, const double *x)
{
  stiff_mass(A, x);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) A[3 * i + j] *= 1.0 + i + 0.5 * j * j;
}"#;
