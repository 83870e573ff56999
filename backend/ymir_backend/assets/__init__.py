"""Browsing a dataset version: its assets, boxes, images, thumbnails and evaluation."""
