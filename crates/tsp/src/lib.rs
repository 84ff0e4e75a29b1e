//! sigstack-tsp
