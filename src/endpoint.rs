//! STS endpoint selection: regional, China, legacy global, FIPS, and overrides.
