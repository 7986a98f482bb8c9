"""The implementations behind ``{% load thumbkit %}`` (registered in ``templatetags/thumbkit``).

``common`` parses and resolves arguments for every tag; ``thumbnail`` holds the sorl- and
imagekit-style ``{% thumbnail %}``; ``generate`` ``{% generateimage %}``; ``urls``
``thumbnail_url`` (tag and filter); ``picture`` ``{% picture %}``. Every ``<img>`` goes
through :func:`thumbkit.adapters.html.img_tag`.
"""
