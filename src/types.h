// The one set of index and matrix-view types of the package's C++ kernels, included by every
// src/*.cpp and src/*.h in place of local typedefs.
//
// Index is a signed 64-bit size on every platform R supports (std::ptrdiff_t), the same type
// Eigen uses for its sizes, so loop counters, Eigen sizes and row numbers of long vectors
// (R_xlen_t > 2^31) mix without casts. The Map types are read-only (or writable) views over R
// memory: inputs are coerced to double (or integer) in R, never copied here.

#ifndef RWECOHORT_TYPES_H
#define RWECOHORT_TYPES_H

#include <RcppEigen.h>
#include <cstddef>
#include <type_traits>

using Index = std::ptrdiff_t;
static_assert(std::is_same<Index, Eigen::Index>::value,
              "Eigen's index type must be std::ptrdiff_t (EIGEN_DEFAULT_DENSE_INDEX_TYPE)");

using Eigen::MatrixXd;
using Eigen::VectorXd;
using Eigen::VectorXi;
using ConstMapMat = Eigen::Map<const Eigen::MatrixXd>;
using ConstMapVec = Eigen::Map<const Eigen::VectorXd>;
using ConstMapIVec = Eigen::Map<const Eigen::VectorXi>;
using MapVec = Eigen::Map<Eigen::VectorXd>;
using MapIVec = Eigen::Map<Eigen::VectorXi>;

#endif
