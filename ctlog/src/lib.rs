//! sigstack-ctlog
