"""opsconsole: governed sync between CRM, ERP and customer success, and its terminal console."""

__version__ = "0.1.0"
