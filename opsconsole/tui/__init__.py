"""The Textual console. Talks only to :class:`opsconsole.services.Services`; renders view models."""
