"""delivery/connectors"""
