"""facetrail.store"""
