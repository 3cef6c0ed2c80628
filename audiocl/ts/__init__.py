"""Time series: sktime datasets and the sktime estimator adapter."""
