"""labclip_lib: reproduce and extend two papers on CLIP's attribute-binding failure."""

__version__ = "0.1.0"
