"""paperlib: a reproduction of Rebuffi, Bilen, Vedaldi, "Efficient parametrization of
multi-domain deep neural networks" (CVPR 2018).

Nothing runs at import time: seeding, plotting styles and device choice are explicit calls.
"""

__version__ = "0.1.0"
