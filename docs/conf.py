"""Sphinx configuration of samlab's static site (``make site``; built by :func:`samlab.site.build_site` from a
staged copy of this folder plus the executed notebooks). Offline: MathJax is bundled (sphinx-mathjax-offline),
the theme ships its assets, nothing is fetched at build or view time."""
project = "samlab"
author = "samlab contributors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"            # the notebooks were executed by `make reproduce`: shown as they are
nb_output_stderr = "remove"          # progress bars and library chatter
nb_merge_streams = True
exclude_patterns = ["_readme.md", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "samlab"
html_theme_options = {"show_toc_level": 2, "use_download_button": False, "use_fullscreen_button": False}
html_last_updated_fmt = None
autodoc_member_order = "bysource"
autodoc_default_options = {"undoc-members": False, "exclude-members": "set"}   # matplotlib's generated Artist.set
html_context = {"default_mode": "light"}
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]
html_copy_source = False             # no _sources/ copies of the notebooks (7 MB)
html_show_sourcelink = False
