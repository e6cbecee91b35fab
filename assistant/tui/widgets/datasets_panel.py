"""The attached datasets: name, rows, columns."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from assistant.tui.widgets.messages import safe


class DatasetsPanel(Static):
    def __init__(self) -> None:
        super().__init__(id="datasets")

    def on_mount(self) -> None:
        self.show(None)

    def show(self, catalog: Any) -> None:
        text = Text("Data\n", style="bold")
        if catalog is None or len(catalog) == 0:
            text.append("none attached — /load PATH\n")
        else:
            from tools.data import display_name

            for dataset in catalog:
                columns = ", ".join(display_name(c, 20) for c in dataset.columns[:8])
                more = " …" if len(dataset.columns) > 8 else ""
                text.append(f"{safe(dataset.name)}: {dataset.n_rows:,} rows\n  {safe(columns)}{more}\n")
        self.update(text)
