"""The dataset container (:mod:`.dataset`) and its one builder, on Dask (:mod:`.build`)."""
