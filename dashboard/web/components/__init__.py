"""Building blocks of the web pages: the shell's filter sidebar, page parts, and page views.

Page modules stay thin (register, layout, callbacks); what they show is computed here by plain
functions of (database, filters, viewer), which tests and benchmarks call without a browser.
"""
