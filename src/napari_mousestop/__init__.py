"""napari-mousestop: stops of Live Mouse Tracker mice, their hourly histograms and a CNN that reads them."""

__version__ = "0.1.0"
