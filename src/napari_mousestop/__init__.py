"""napari-mousestop: stops of Live Mouse Tracker mice, hourly histograms and a CNN reading them."""

__version__ = "0.1.0"
