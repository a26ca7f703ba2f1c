"""The Ray Serve application: HTTP ingress, the layout and recognition stages, the wire contract."""
