//! sigstack-ct
