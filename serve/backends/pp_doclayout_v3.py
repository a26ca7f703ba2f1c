"""PP-DocLayoutV3 (the layout model of PaddleOCR-VL-1.5 and -1.6) through transformers' own model code.

PP-DocLayoutV2's outputs plus an instance mask per query, from which each region gets its outline (`polygon_points`,
`block_polygon_points`, crops white outside it; spec §3.4, §5.4). Same 25 labels and reading-order output.
Production weights: `PaddlePaddle/PP-DocLayoutV3_safetensors`, pre-downloaded like V2's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serve.backends.pp_doclayout_v2 import PpDocLayoutV2


class PpDocLayoutV3(PpDocLayoutV2):
    def _arrays(self, out: Any) -> dict[str, np.ndarray]:
        return {**super()._arrays(out), "masks": out.out_masks.float().cpu().numpy()}
