//! sigstack-tsa
