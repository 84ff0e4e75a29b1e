//! sigstack-e2e
