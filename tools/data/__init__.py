"""User data: safe CSV/Parquet loading (``loading``), names fit to show (``names``) and the catalog of
attached datasets (``catalog``). Tools receive frames from the catalog, never paths chosen by the model."""

from tools.data.catalog import Catalog, Dataset
from tools.data.loading import MAX_FILE_BYTES, NA_VALUES, load_table
from tools.data.names import display_name, parse_data_argument

__all__ = ["MAX_FILE_BYTES", "NA_VALUES", "Catalog", "Dataset", "display_name", "load_table", "parse_data_argument"]
