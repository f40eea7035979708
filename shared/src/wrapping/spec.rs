//! The wrapping key specs a pool holds, and one value per such spec.

use std::ops::Index;

use crate::domain::spec::WrappingKeySpec;

/// A wrapping key spec the pools hold: the RSA ones, slow to make. SM2 keys (China Regions)
/// are EC keys, fast enough to make in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PooledSpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl PooledSpec {
    pub const ALL: [PooledSpec; 3] = [
        PooledSpec::Rsa2048,
        PooledSpec::Rsa3072,
        PooledSpec::Rsa4096,
    ];

    /// The pooled spec of a wrapping key spec; `None` for one no pool holds.
    pub fn of(spec: WrappingKeySpec) -> Option<PooledSpec> {
        match spec {
            WrappingKeySpec::Rsa2048 => Some(PooledSpec::Rsa2048),
            WrappingKeySpec::Rsa3072 => Some(PooledSpec::Rsa3072),
            WrappingKeySpec::Rsa4096 => Some(PooledSpec::Rsa4096),
            WrappingKeySpec::Sm2 => None,
        }
    }

    pub fn spec(self) -> WrappingKeySpec {
        match self {
            PooledSpec::Rsa2048 => WrappingKeySpec::Rsa2048,
            PooledSpec::Rsa3072 => WrappingKeySpec::Rsa3072,
            PooledSpec::Rsa4096 => WrappingKeySpec::Rsa4096,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One value per pooled spec (targets, slots, switches), indexed by the spec itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerSpec<T>([T; 3]);

impl<T> PerSpec<T> {
    pub const fn new(rsa_2048: T, rsa_3072: T, rsa_4096: T) -> Self {
        Self([rsa_2048, rsa_3072, rsa_4096])
    }

    pub fn from_fn(mut f: impl FnMut(PooledSpec) -> T) -> Self {
        Self(PooledSpec::ALL.map(&mut f))
    }

    pub fn iter(&self) -> impl Iterator<Item = (PooledSpec, &T)> {
        PooledSpec::ALL.into_iter().zip(self.0.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
}

impl<T> Index<PooledSpec> for PerSpec<T> {
    type Output = T;
    fn index(&self, spec: PooledSpec) -> &T {
        &self.0[spec.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_values() {
        let per = PerSpec::new(1, 2, 3);
        assert_eq!(per[PooledSpec::Rsa3072], 2);
        assert_eq!(
            per.iter().map(|(s, v)| (s.spec(), *v)).collect::<Vec<_>>(),
            [
                (WrappingKeySpec::Rsa2048, 1),
                (WrappingKeySpec::Rsa3072, 2),
                (WrappingKeySpec::Rsa4096, 3)
            ]
        );
        assert_eq!(PooledSpec::of(WrappingKeySpec::Sm2), None);
        for s in PooledSpec::ALL {
            assert_eq!(PooledSpec::of(s.spec()), Some(s));
        }
    }
}
